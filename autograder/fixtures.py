"""Fixture submissions: alternative and mistaken replacements for solution cells.

``tests/fixtures/<assignment>/<item>/alternative-<how>.py`` must keep full points,
``mistake-<what>.py`` must lose exactly the item's points, and
``forgery-<attack>.py`` (wrong code that attacks the grading from inside the kernel)
must score nothing on its item while every other item keeps its points. Combined
submissions put the k-th fixture of every item into one notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nbformat import NotebookNode

from autograder import notebooks
from autograder.course import Course
from autograder.errors import CourseError

Kind = Literal["alternative", "mistake", "forgery"]
KINDS: tuple[Kind, ...] = ("alternative", "mistake", "forgery")
# What tests run in the kernel (otter's) can be held to: forgeries defeat those by design.
HONEST_KINDS: tuple[Kind, ...] = ("alternative", "mistake")
LOSING_KINDS: tuple[Kind, ...] = ("mistake", "forgery")
PLURALS = {"alternative": "alternatives", "mistake": "mistakes", "forgery": "forgeries"}


@dataclass(frozen=True)
class Fixture:
    """One replacement for the solution cell of ``item``."""

    item: str
    kind: Kind
    path: Path

    @property
    def label(self) -> str:
        return f"{self.item}/{self.path.stem}"

    @property
    def source(self) -> str:
        return self.path.read_text().rstrip("\n")


@dataclass(frozen=True)
class Submission:
    """A notebook to grade and what each item is expected to score."""

    name: str
    notebook: NotebookNode
    applied: tuple[Fixture, ...]


def discover(course: Course, assignment: str) -> dict[str, dict[Kind, list[Fixture]]]:
    """Fixtures per item and kind, sorted by file name; rejects misplaced files."""
    source = notebooks.read(course.source_notebook(assignment))
    known = {item.name for item in notebooks.items(source) if not item.manual}
    found: dict[str, dict[Kind, list[Fixture]]] = {
        item: {kind: [] for kind in KINDS} for item in known
    }
    folder = course.fixtures_dir / assignment
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*/*.py")):
        item = path.parent.name
        if item not in known:
            raise CourseError(f"{path}: {item!r} is not an auto-graded item of {assignment}")
        kind = path.stem.split("-", 1)[0]
        if kind not in KINDS:
            prefixes = ", ".join(f"'{kind}-'" for kind in KINDS)
            raise CourseError(f"{path}: name must start with one of {prefixes}")
        found[item][kind].append(Fixture(item, kind, path))  # type: ignore[index]
    return found


def solution_sources(source: NotebookNode) -> dict[str, str]:
    """Every solution cell's content as a student would submit it."""
    return {
        gid: notebooks.strip_solution_markers(cell.source)
        for gid, cell in notebooks.cells_by_grade_id(source).items()
        if notebooks.nbgrader_meta(cell).get("solution")
    }


def combined_submissions(
    release: NotebookNode,
    source: NotebookNode,
    fixtures: dict[str, dict[Kind, list[Fixture]]],
    kind: Kind,
) -> list[Submission]:
    """``<kind>s-k``: the release filled with solutions and the k-th fixture of each item."""
    depth = max((len(per_kind[kind]) for per_kind in fixtures.values()), default=0)
    submissions = []
    for k in range(depth):
        applied = tuple(
            per_kind[kind][k] for _, per_kind in sorted(fixtures.items()) if len(per_kind[kind]) > k
        )
        sources = solution_sources(source) | {fixture.item: fixture.source for fixture in applied}
        notebook = notebooks.with_replaced_cells(release, sources)
        submissions.append(Submission(f"{PLURALS[kind]}-{k + 1}", notebook, applied))
    return submissions


def reference_submissions(release: NotebookNode, source: NotebookNode) -> list[Submission]:
    """The solution as a student would submit it, and the untouched release."""
    solution = notebooks.with_replaced_cells(release, solution_sources(source))
    return [Submission("solution", solution, ()), Submission("release", release, ())]
