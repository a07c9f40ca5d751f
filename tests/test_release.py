"""The committed release: up to date with source/, and leaking nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import notebooks, release
from autograder.course import Course
from autograder.errors import CourseError

ASSIGNMENTS = ["backprop", "cnn_mnist", "forward_pass", "iris_comparison", "regression"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_matches_a_fresh_one(course: Course, assignment: str) -> None:
    assert release.release_is_stale(course, assignment) == [], (
        f"release/{assignment} is stale: run `autograder release {assignment}`"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_passes_its_audit(course: Course, assignment: str) -> None:
    assert release.audit_release(course, assignment) == []


def _copy_course(course: Course, assignment: str, target: Path) -> Course:
    for name in ("source", "release"):
        shutil.copytree(course.root / name / assignment, target / name / assignment)
    shutil.copy(course.config_file, target)
    return Course(target)


def test_audit_catches_hidden_tests_solutions_outputs_and_heldout_data(
    course: Course, tmp_path: Path
) -> None:
    copy = _copy_course(course, "forward_pass", tmp_path)
    path = copy.release_dir / "forward_pass" / "forward_pass.ipynb"
    leaky = notebooks.read(path)
    source = notebooks.cells_by_grade_id(notebooks.read(copy.source_notebook("forward_pass")))
    cells = notebooks.cells_by_grade_id(leaky)
    cells["test_relu"].source = source["test_relu"].source
    cells["relu"].source = notebooks.strip_solution_markers(source["relu"].source)
    cells["test_mse"].source += "\nX, y = load_mnist('heldout')"
    first_code = next(cell for cell in leaky.cells if cell.cell_type == "code")
    first_code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x")]
    notebooks.write(leaky, path)
    (path.parent / "heldout.npz").write_bytes(b"")
    problems = "\n".join(release.audit_release(copy, "forward_pass"))
    assert "BEGIN HIDDEN TESTS" in problems
    assert "solution code" in problems
    assert "held-out" in problems
    assert "has outputs" in problems
    assert "data file" in problems


def test_stale_release_is_detected(course: Course, tmp_path: Path) -> None:
    copy = _copy_course(course, "forward_pass", tmp_path)
    source_path = copy.source_notebook("forward_pass")
    source = notebooks.read(source_path)
    source.cells[0].source += "\nA new sentence."
    notebooks.write(source, source_path)
    assert release.release_is_stale(copy, "forward_pass") == ["changed forward_pass.ipynb"]


def test_a_release_that_fails_its_audit_leaves_the_old_one(course: Course, tmp_path: Path) -> None:
    copy = _copy_course(course, "forward_pass", tmp_path)
    before = {p: p.read_bytes() for p in (copy.release_dir / "forward_pass").rglob("*")}
    (copy.source_dir / "forward_pass" / "labels.npz").write_bytes(b"held out")
    with pytest.raises(CourseError, match=r"labels\.npz: data file in a release"):
        release.release(copy, "forward_pass")
    after = {p: p.read_bytes() for p in (copy.release_dir / "forward_pass").rglob("*")}
    assert after == before
