"""Each submission's hidden inputs come from its own seed, kept in its grade record.

A one-function course draws the hidden input from the grading seed; a wrong answer's
failure message names that input. Two students get different inputs, and a forced
regrade draws the same ones again and gives the same points.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import nbgrader_metadata, one_assignment_course, submit_answers
from nbformat.v4 import new_code_cell, new_notebook

from autograder import notebooks, records
from autograder.course import Course
from autograder.pipeline import BatchGrader
from autograder.seeding import submission_seed
from autograder.settings import limits_from, load_settings

STUDENTS = {
    "ada": "def square(x):\n    return x * x",
    "bob": "def square(x):\n    return 2 * x",
    "cy": "def square(x):\n    return x + x",
}


def seeded_notebook() -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        new_code_cell(
            "### BEGIN SOLUTION\ndef square(x):\n    return x * x\n### END SOLUTION",
            metadata=nbgrader_metadata(grade=False, solution=True, grade_id="square"),
        ),
        new_code_cell(
            "assert square(3) == 9\n"
            "### BEGIN HIDDEN TESTS\n"
            "import numpy as np\n"
            "from autograder.seeding import grading_seed\n"
            "_x = int(np.random.default_rng(grading_seed()).integers(10, 10**6))\n"
            "assert square(_x) == _x * _x, f'square({_x}) returned {square(_x)}'\n"
            "### END HIDDEN TESTS",
            metadata=nbgrader_metadata(
                grade=True, solution=False, locked=True, points=2, grade_id="test_square"
            ),
        ),
    ]
    return notebook


def failure_messages(course: Course) -> dict[str, str]:
    found = {}
    for student in STUDENTS:
        graded = notebooks.read(course.root / "autograded" / student / "seeded" / "seeded.ipynb")
        errors = [o for c in graded.cells for o in c.get("outputs", []) if "evalue" in o]
        found[student] = errors[0]["evalue"] if errors else ""
    return found


@pytest.mark.slow
def test_each_submission_has_its_own_recorded_seed_and_a_regrade_reuses_it(
    tmp_path: Path,
) -> None:
    course = one_assignment_course(tmp_path / "course", "seeded", seeded_notebook())
    submit_answers(course, "seeded", "square", STUDENTS)
    settings = load_settings(course, backend="sandbox", workers=2)
    grader = BatchGrader(course, settings, limits_from(course, settings))

    first = {r.student: r for r in grader.grade("seeded", say=lambda line: None)}
    first_messages = failure_messages(course)
    assert {s: r.score for s, r in first.items()} == {"ada": 2, "bob": 0, "cy": 0}
    assert {s: r.seed for s, r in first.items()} == {
        s: submission_seed(settings.seed, "seeded", s) for s in STUDENTS
    }
    assert first_messages["ada"] == ""
    # bob and cy answer alike, yet are asked about different numbers.
    assert first_messages["bob"].startswith("square(") and first_messages["cy"].startswith(
        "square("
    )
    assert first_messages["bob"].split(")")[0] != first_messages["cy"].split(")")[0]

    again = {r.student: r for r in grader.grade("seeded", force=True, say=lambda line: None)}
    assert {s: (r.seed, r.score) for s, r in again.items()} == {
        s: (r.seed, r.score) for s, r in first.items()
    }
    assert failure_messages(course) == first_messages
    assert records.load(course, "seeded", "bob").seed == first["bob"].seed
