"""A working nbgrader course folder, driven through nbgrader's own API.

Used for everything that needs nbgrader's real behaviour: generating a release and
autograding submissions into a gradebook. The folder loads the course's
``nbgrader_config.py`` and then points nbgrader at itself.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from nbformat import NotebookNode
from traitlets.config import Config

from autograder import notebooks
from autograder.course import CONFIG_NAME, Course
from autograder.errors import CourseError
from autograder.settings import course_db_url

_CONFIG_TEMPLATE = """\
c = get_config()  # noqa: F821
load_subconfig({course_config!r})  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
"""


def ensure_tools_on_path() -> None:
    """nbgrader runs ``alembic`` through PATH when it creates a gradebook."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


class NbgraderError(CourseError):
    """An nbgrader step failed; the message holds nbgrader's own log."""


def require_success(result: dict, step: str) -> dict:
    """``result`` of an ``NbGraderAPI`` call, or an :class:`NbgraderError` saying why not."""
    if not result["success"]:
        raise NbgraderError(f"{step} failed:\n{result.get('error') or result.get('log')}")
    return result


class NbgraderCourse:
    """An nbgrader course folder at ``root`` whose gradebook is ``db_url``."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root = root.resolve()
        self.db_url = db_url

    @classmethod
    def scratch(cls, root: Path, course_config: Path, db_url: str = "") -> NbgraderCourse:
        """A new folder at ``root`` with the course's settings and its own gradebook,
        or the gradebook ``db_url``."""
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
        (root / CONFIG_NAME).write_text(
            _CONFIG_TEMPLATE.format(
                course_config=str(course_config.resolve()), root=str(root), db_url=db_url
            )
        )
        return cls(root, db_url)

    @classmethod
    def for_course(cls, course: Course) -> NbgraderCourse:
        """The course folder itself, with its configured gradebook."""
        return cls(course.root, course_db_url(course))

    def api(self, config: Config | None = None):
        """A fresh ``NbGraderAPI`` (nbgrader keeps per-call state on its apps).

        ``config`` defaults to :meth:`config`.
        """
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        ensure_tools_on_path()
        if config is None:
            config = self.config()
        coursedir = CourseDirectory(config=config)
        coursedir.root = str(self.root)
        return NbGraderAPI(coursedir=coursedir, config=config)

    def config(self) -> Config:
        """What nbgrader's own commands read: every ``nbgrader_config.py`` on Jupyter's
        config path (a hub's exchange settings), then the folder's, which wins."""
        from jupyter_core.paths import jupyter_config_path
        from traitlets.config.loader import PyFileConfigLoader

        config = Config()
        for folder in [*reversed(jupyter_config_path()), str(self.root)]:
            if (Path(folder) / CONFIG_NAME).is_file():
                config.merge(PyFileConfigLoader(CONFIG_NAME, path=folder).load_config())
        return config

    def add_source(self, assignment: str, source_folder: Path) -> None:
        target = self.root / "source" / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source_folder, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))

    def generate(self, assignment: str) -> Path:
        """Run nbgrader's generate_assignment; returns the release folder."""
        result = self.api().generate_assignment(assignment, force=True, create=True)
        require_success(result, f"nbgrader generate_assignment {assignment}")
        return self.root / "release" / assignment

    def submission_dir(self, assignment: str, student: str) -> Path:
        return self.root / "submitted" / student / assignment

    def submit(self, assignment: str, student: str, notebook_name: str, nb: NotebookNode) -> Path:
        path = self.submission_dir(assignment, student) / notebook_name
        notebooks.write(nb, path)
        return path
