"""Each submission's hidden inputs come from its own seed, kept in its grade record;
independent cases earn their share of an item's points.

A small course draws the hidden input of ``square`` from the grading seed; a wrong
answer's failure message names that input. Two students get different inputs, and a
forced regrade draws the same ones again and gives the same points. ``absolute`` has
four cases declared independent (``autograder.testing.case``).
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

SQUARES = {
    "ada": "def square(x):\n    return x * x",
    "bob": "def square(x):\n    return 2 * x",
    "cy": "def square(x):\n    return x + x",
}
ABSOLUTES = {
    "ada": "def absolute(x):\n    return abs(x)",
    "bob": "def absolute(x):\n    return x",
    "cy": "def absolute(x):\n    return -x if x < -1 else x",
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
            "### BEGIN SOLUTION\ndef absolute(x):\n    return abs(x)\n### END SOLUTION",
            metadata=nbgrader_metadata(grade=False, solution=True, grade_id="absolute"),
        ),
        new_code_cell(
            "### BEGIN HIDDEN TESTS\n"
            "from autograder.testing import case\n"
            "for _x in (-2, -1, 0, 3):\n"
            "    with case(f'absolute({_x})'):\n"
            "        assert absolute(_x) == abs(_x), f'got {absolute(_x)}'\n"
            "### END HIDDEN TESTS",
            metadata=nbgrader_metadata(
                grade=True, solution=False, locked=True, points=2, grade_id="test_absolute"
            ),
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
    """The message of each student's failed ``square`` test ("" when it passed)."""
    found = {}
    for student in SQUARES:
        graded = notebooks.read(course.root / "autograded" / student / "seeded" / "seeded.ipynb")
        errors = [o for c in graded.cells for o in c.get("outputs", []) if "evalue" in o]
        found[student] = next((e["evalue"] for e in errors if "square" in e["evalue"]), "")
    return found


@pytest.mark.slow
def test_each_submission_has_its_own_recorded_seed_and_a_regrade_reuses_it(
    tmp_path: Path,
) -> None:
    course = one_assignment_course(tmp_path / "course", "seeded", seeded_notebook())
    submit_answers(
        course, "seeded", {s: {"square": SQUARES[s], "absolute": ABSOLUTES[s]} for s in SQUARES}
    )
    settings = load_settings(course, backend="sandbox", workers=2)
    grader = BatchGrader(course, settings, limits_from(course, settings))

    first = {r.student: r for r in grader.grade("seeded", say=lambda line: None)}
    first_messages = failure_messages(course)
    assert {s: r.items["test_square"]["score"] for s, r in first.items()} == {
        "ada": 2,
        "bob": 0,
        "cy": 0,
    }
    # Independent cases: bob fails absolute(-2) and absolute(-1), cy only absolute(-1).
    assert {s: r.items["test_absolute"]["score"] for s, r in first.items()} == {
        "ada": 2,
        "bob": 1,
        "cy": 1.5,
    }
    assert {s: r.seed for s, r in first.items()} == {
        s: submission_seed(settings.seed, "seeded", s) for s in SQUARES
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
