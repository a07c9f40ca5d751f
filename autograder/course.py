"""Where things live in a course folder (the fixed top-level layout)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.errors import CourseError

CONFIG_NAME = "nbgrader_config.py"


@dataclass(frozen=True)
class Course:
    """A course folder: ``source/``, ``release/``, ``solutions/``, ``nbgrader_config.py``."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Course:
        """The course containing ``start`` (default: the working directory)."""
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_NAME).is_file() and (folder / "source").is_dir():
                return cls(folder)
        raise CourseError(
            f"no course found at or above {here}: expected {CONFIG_NAME} beside a source/ folder"
        )

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def source_dir(self) -> Path:
        return self.root / "source"

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions"

    @property
    def fixtures_dir(self) -> Path:
        return self.root / "tests" / "fixtures"

    def assignments(self) -> list[str]:
        """Assignment names: the folders of ``source/`` that hold a notebook."""
        return sorted(
            folder.name
            for folder in self.source_dir.iterdir()
            if folder.is_dir() and any(folder.glob("*.ipynb"))
        )

    def resolve_assignments(self, names: tuple[str, ...] | list[str], all_: bool) -> list[str]:
        """The assignments a command was asked for, with a clear error for unknown names."""
        known = self.assignments()
        if all_ or not names:
            return known
        unknown = [name for name in names if name not in known]
        if unknown:
            raise CourseError(f"unknown assignment(s) {unknown}; the course has {known}")
        return list(names)

    def source_notebook(self, assignment: str) -> Path:
        """The instructor notebook of an assignment (exactly one per folder)."""
        notebooks = sorted((self.source_dir / assignment).glob("*.ipynb"))
        if len(notebooks) != 1:
            raise CourseError(
                f"source/{assignment} must hold exactly one notebook, found {len(notebooks)}"
            )
        return notebooks[0]
