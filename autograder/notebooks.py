"""Reading, writing and rewriting notebooks by their nbgrader cells.

An *item* is one graded unit of an assignment: a solution cell ``<item>`` with its
test cell ``test_<item>`` (auto-graded), or a markdown cell that is both solution
and grade (free response, graded by hand).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.errors import CourseError

TEST_PREFIX = "test_"
SOLUTION_BLOCK = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
HIDDEN_TESTS_MARKER = "### BEGIN HIDDEN TESTS"


@dataclass(frozen=True)
class Item:
    """A graded unit: its name, its points and whether a person grades it."""

    name: str
    points: float
    manual: bool

    @property
    def test_id(self) -> str:
        return self.name if self.manual else TEST_PREFIX + self.name


def read(path: Path) -> NotebookNode:
    """A notebook, with a message that names the file when it is not valid JSON."""
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as error:
        raise CourseError(f"{path} is not a readable notebook: {error}") from error


def write(notebook: NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))


def nbgrader_meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell: NotebookNode) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def cells_by_grade_id(notebook: NotebookNode) -> dict[str, NotebookNode]:
    return {gid: cell for cell in notebook.cells if (gid := grade_id(cell))}


def items(notebook: NotebookNode) -> list[Item]:
    """The graded items in notebook order; raises when a solution has no test cell."""
    cells = cells_by_grade_id(notebook)
    found: list[Item] = []
    for gid, cell in cells.items():
        meta = nbgrader_meta(cell)
        if meta.get("solution") and meta.get("grade"):
            found.append(Item(gid, float(meta.get("points", 0)), manual=True))
        elif meta.get("solution"):
            test = cells.get(TEST_PREFIX + gid)
            if test is None:
                raise CourseError(f"solution cell {gid!r} has no test cell {TEST_PREFIX + gid!r}")
            found.append(Item(gid, float(nbgrader_meta(test).get("points", 0)), manual=False))
    return found


def strip_solution_markers(source: str) -> str:
    """A solution cell's source as a student would have written it."""
    return SOLUTION_BLOCK.sub("", source)


def with_replaced_cells(notebook: NotebookNode, sources: dict[str, str]) -> NotebookNode:
    """A copy of ``notebook`` where the cells named in ``sources`` get new source."""
    result = copy.deepcopy(notebook)
    unknown = set(sources) - set(cells_by_grade_id(result))
    if unknown:
        raise CourseError(f"no cells with grade_id {sorted(unknown)}")
    for cell in result.cells:
        gid = grade_id(cell)
        if gid in sources:
            cell.source = sources[gid]
    return result


def strip_outputs(notebook: NotebookNode) -> NotebookNode:
    """A copy without outputs or execution counts (committed notebooks carry none)."""
    result = copy.deepcopy(notebook)
    for cell in result.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("execution", None)
    return result


def has_outputs(notebook: NotebookNode) -> bool:
    return any(
        cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
        for cell in notebook.cells
    )


def cell_sources(notebook: NotebookNode) -> list[tuple[str, str]]:
    """(cell type, source) pairs: what staleness checks compare."""
    return [(cell.cell_type, cell.source) for cell in notebook.cells]
