"""The visible checks students run before submitting, held to the same fixtures.

A visible check must never fail correct work (the answer key and every alternative
pass it), and the typical mistakes it is written to catch must fail it before
grading, not only in the hidden tests. The NumPy assignments, and `regression` with its
tiny networks, run here in-process: the cells above an item's test cell, with the item's
solution cell replaced.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import matplotlib
import pytest

from autograder import fixtures, notebooks
from autograder.course import Course

ASSIGNMENTS = ("forward_pass", "backprop", "regression")
# Mistakes that the visible part of their item's test cell must catch.
CAUGHT_BEFORE_GRADING = {
    ("backprop", "numerical_gradient", "mistake-forward-difference"),
    ("backprop", "backprop", "mistake-skips-activation-derivative"),
    ("forward_pass", "gradient_descent", "mistake-updates-the-callers-array"),
    ("regression", "fit_line", "mistake-no-intercept"),
    ("regression", "fit_line", "mistake-swapped-pair"),
    ("regression", "line_mse_gradient", "mistake-missing-factor-two"),
    ("regression", "line_mse_gradient", "mistake-wrong-sign"),
    ("regression", "line_mse_gradient", "mistake-sum-instead-of-mean"),
    ("regression", "build_regression_net", "mistake-relu-activation"),
    ("regression", "build_regression_net", "mistake-no-activation"),
    ("regression", "build_regression_net", "mistake-output-size-n-in"),
    ("regression", "build_regression_net", "mistake-ignores-arguments"),
    ("regression", "train_regression", "mistake-target-shape-broadcast"),
    ("regression", "train_regression", "mistake-no-optimizer-step"),
    ("regression", "train_regression", "mistake-forgets-zero-grad"),
    ("regression", "projectile_height", "mistake-angle-as-radians"),
    ("regression", "projectile_height", "mistake-cos-instead-of-sin"),
    ("regression", "projectile_height", "mistake-missing-half"),
}
HIDDEN = "### BEGIN HIDDEN TESTS"


def _run_visible_check(course: Course, assignment: str, item: str, solution: str) -> None:
    """Run the notebook down to ``item``'s test cell with ``solution`` as its answer,
    then the test cell's visible part; raises what the visible check raises."""
    matplotlib.use("Agg")
    source = notebooks.read(course.source_notebook(assignment))
    namespace: dict[str, object] = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in source.cells:
            if cell.cell_type != "code":
                continue
            grade_id = notebooks.nbgrader_meta(cell).get("grade_id")
            if grade_id == notebooks.TEST_PREFIX + item:
                exec(cell.source.split(HIDDEN)[0], namespace)
                return
            if notebooks.nbgrader_meta(cell).get("grade"):
                continue  # other test cells: their hidden parts run in the grader
            exec(solution if grade_id == item else cell.source, namespace)
    raise AssertionError(f"{assignment} has no test cell for {item}")


def _cases() -> list[tuple[str, str, str, str]]:
    course = Course(Path(__file__).resolve().parent.parent)
    cases = []
    for assignment in ASSIGNMENTS:
        for item, kinds in fixtures.discover(course, assignment).items():
            for fixture in kinds["alternative"]:
                cases.append((assignment, item, fixture.path.stem, "passes"))
            for fixture in kinds["mistake"]:
                key = (assignment, item, fixture.path.stem)
                if key in CAUGHT_BEFORE_GRADING:
                    cases.append((*key, "fails"))
    return sorted(cases)


@pytest.mark.parametrize(("assignment", "item", "fixture", "outcome"), _cases())
def test_visible_checks_pass_correct_work_and_catch_listed_mistakes(
    course: Course, assignment: str, item: str, fixture: str, outcome: str
) -> None:
    solution = (course.fixtures_dir / assignment / item / f"{fixture}.py").read_text()
    if outcome == "passes":
        _run_visible_check(course, assignment, item, solution)
    else:
        with pytest.raises(AssertionError):
            _run_visible_check(course, assignment, item, solution)


def test_every_listed_mistake_exists(course: Course) -> None:
    for assignment, item, fixture in CAUGHT_BEFORE_GRADING:
        assert (course.fixtures_dir / assignment / item / f"{fixture}.py").is_file()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_answer_key_passes_every_visible_check(course: Course, assignment: str) -> None:
    source = notebooks.read(course.source_notebook(assignment))
    answers = fixtures.solution_sources(source)
    for item in notebooks.items(source):
        if not item.manual:
            _run_visible_check(course, assignment, item.name, answers[item.name])
