"""Answer keys for TAs: the source notebooks without solution markers, executed."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from nbformat import NotebookNode

from autograder import execution, notebooks
from autograder.course import Course


def answer_key(course: Course, assignment: str) -> NotebookNode:
    """The unexecuted answer key: solutions in full, hidden tests kept for TAs."""
    source = notebooks.strip_outputs(notebooks.read(course.source_notebook(assignment)))
    for cell in source.cells:
        if cell.cell_type == "code" and notebooks.nbgrader_meta(cell).get("solution"):
            cell.source = notebooks.strip_solution_markers(cell.source)
    return source


def answer_key_path(course: Course, assignment: str) -> Path:
    return course.solutions_dir / assignment / course.source_notebook(assignment).name


def build_solutions(course: Course, assignment: str) -> tuple[Path, float]:
    """Write the executed answer key; returns its path and the execution seconds."""
    key = answer_key(course, assignment)
    with tempfile.TemporaryDirectory(prefix="autograder-solutions-") as tmp:
        workdir = Path(tmp) / assignment
        shutil.copytree(course.source_dir / assignment, workdir)
        seconds = execution.execute(key, workdir)
    path = answer_key_path(course, assignment)
    notebooks.write(key, path)
    return path, seconds


def solutions_are_stale(course: Course, assignment: str) -> bool:
    """True when the committed answer key's cells differ from the source's."""
    path = answer_key_path(course, assignment)
    if not path.is_file():
        return True
    committed = notebooks.cell_sources(notebooks.read(path))
    return committed != notebooks.cell_sources(answer_key(course, assignment))
