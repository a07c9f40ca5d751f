"""One version of an assignment's tests at a time: nbgrader's gradebook follows ``source/``.

nbgrader scores a submission with the test cells it stored in the gradebook when
the assignment was generated, not with ``source/``. :func:`sync_gradebook` brings
the gradebook's copy up to date (nbgrader's generate step run in a scratch folder,
so it writes the gradebook and never ``release/``), and :func:`digest` names
a version of the tests, which each grading record keeps.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from autograder import notebooks
from autograder.course import Course
from autograder.errors import CourseError
from autograder.nbgrader_course import NbgraderCourse

# A test: its points and, for an auto-graded cell, its code (a TA's model answer is not a test).
Tests = dict[str, tuple[float, str]]


class GradedCellsChanged(CourseError):
    """Graded cells were added or removed while the gradebook holds submissions."""


def source_tests(course: Course, assignment: str) -> Tests:
    """The graded cells of the assignment's source notebook."""
    tests: Tests = {}
    for cell in notebooks.read(course.source_notebook(assignment)).cells:
        meta = notebooks.nbgrader_meta(cell)
        if meta.get("grade"):
            code = "" if meta.get("solution") else cell.source
            tests[str(meta["grade_id"])] = (float(meta.get("points", 0)), code)
    return tests


def gradebook_tests(db_url: str, assignment: str) -> Tests | None:
    """The graded cells nbgrader scores ``assignment`` with; None before it is generated."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gradebook:
        try:
            stored = gradebook.find_assignment(assignment)
        except MissingEntry:
            return None
        tests: Tests = {}
        for notebook in stored.notebooks:
            sources = {cell.name: cell.source for cell in notebook.source_cells}
            answers = {cell.name for cell in notebook.solution_cells}
            for cell in notebook.grade_cells:
                code = "" if cell.name in answers else sources.get(cell.name, "")
                tests[cell.name] = (float(cell.max_score), code)
        return tests


def digest(tests: Tests | None) -> str:
    """A name for one version of the tests: equal tests, equal names."""
    canonical = json.dumps(sorted((tests or {}).items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sync_gradebook(course: Course, assignment: str, db_url: str) -> str:
    """Make the gradebook score ``assignment`` with the tests in ``source/``.

    Returns ``"current"``, ``"added"`` (first grading) or ``"updated"`` (the tests
    changed since the gradebook last took them).
    """
    stored = gradebook_tests(db_url, assignment)
    if stored == source_tests(course, assignment):
        return "current"
    with tempfile.TemporaryDirectory(prefix="autograder-tests-") as tmp:
        scratch = NbgraderCourse.scratch(Path(tmp), course.config_file, db_url=db_url)
        scratch.add_source(assignment, course.source_dir / assignment)
        result = scratch.api().generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        log = f"{result.get('log', '')}\n{result.get('error', '')}"
        if "Cannot add or remove cells" in log:
            raise GradedCellsChanged(
                f"graded cells of {assignment} were added or removed after submissions were "
                "graded; nbgrader cannot change the cells of a graded notebook. Keep the "
                "graded cells (change their code and points freely), or make a new assignment"
            )
        raise RuntimeError(f"nbgrader could not take the tests of {assignment}:\n{log[-2000:]}")
    return "added" if stored is None else "updated"
