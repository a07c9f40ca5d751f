"""otter-grader grades the exported course as nbgrader does (``otter run``, no Docker).

The submissions are among those ``autograder check`` grades through nbgrader: the answer
key and the first combined fixtures (the first alternative or mistake of every item).
nbgrader's per-item result is what the check asserts: alternatives keep their item's
points, mistakes lose exactly theirs. The release and every other fixture are left to
``autograder otter-parity``.
"""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from autograder import notebooks, otter_export
from autograder.course import Course
from autograder.release import HELDOUT_PATTERN
from autograder.settings import load_settings
from autograder.thresholds import load_thresholds

ASSIGNMENTS = ["forward_pass", "backprop", "iris_comparison", "cnn_mnist", "regression"]

Exporter = Callable[[str], otter_export.OtterExport]


@pytest.fixture(scope="module")
def export_of(course: Course, tmp_path_factory: pytest.TempPathFactory) -> Exporter:
    """The otter export of an assignment, made once per module (the zip grades the solution)."""
    made: dict[str, otter_export.OtterExport] = {}

    def export(assignment: str) -> otter_export.OtterExport:
        if assignment not in made:
            target = tmp_path_factory.mktemp("otter") / assignment
            made[assignment] = otter_export.export_assignment(
                course, assignment, target, run_tests=False
            )
        return made[assignment]

    return export


def _strings(python_source: str) -> list[str]:
    """The string constants of a Python file: the test code otter's test files embed."""
    return [
        node.value
        for node in ast.walk(ast.parse(python_source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _secret_lines(course: Course, assignment: str) -> tuple[set[str], set[str]]:
    """Distinctive lines only hidden tests hold, and those only model answers hold."""
    source = notebooks.read(course.source_notebook(assignment))
    hidden: set[str] = set()
    answers: set[str] = set()
    shown: set[str] = set()
    for cell in source.cells:
        meta = notebooks.nbgrader_meta(cell)
        if meta.get("solution") and meta.get("grade"):
            answers |= {line.strip() for line in cell.source.splitlines()}
        elif meta.get("grade"):
            for stretch in otter_export.split_test_cell(cell.source):
                lines = {line.strip() for line in stretch.code.splitlines()}
                (hidden if stretch.hidden else shown).update(lines)
        else:
            shown |= {line.strip() for line in cell.source.splitlines()}
    return (
        {line for line in hidden - shown if len(line) >= 20},
        {line for line in answers - shown if len(line) >= 20},
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_held_out_data_and_thresholds_are_only_in_the_autograder_zip(
    course: Course, export_of: Exporter, assignment: str
) -> None:
    export = export_of(assignment)
    student = nbformat.read(str(export.student_notebook), as_version=4)
    student_text = "\n".join(
        [cell.source for cell in student.cells]
        + [text for test in student.metadata["otter"]["tests"].values() for text in _strings(test)]
    )
    with zipfile.ZipFile(export.autograder_zip) as bundle:
        names = bundle.namelist()
        zip_tests = "\n".join(
            text
            for name in names
            if name.startswith("tests/")
            for text in _strings(bundle.read(name).decode())
        )
        shipped_thresholds = bundle.read("files/autograder/thresholds.json").decode()
    hidden, answers = _secret_lines(course, assignment)
    assert hidden and answers
    student_lines = {line.strip() for line in student_text.splitlines()}
    assert sorted((hidden | answers) & student_lines) == []
    assert sorted(line for line in hidden if line not in zip_tests) == []
    answer_key = nbformat.read(str(export.autograder_notebook), as_version=4)
    answer_key_lines = {
        line.strip() for cell in answer_key.cells for line in cell.source.split("\n")
    }
    assert sorted(answers - answer_key_lines) == []
    assert "assert_at_least" not in student_text and not HELDOUT_PATTERN.search(student_text)
    keys = [key for key in load_thresholds() if key.startswith(f"{assignment}.")]
    assert [key for key in keys if key in student_text] == []
    assert [key for key in keys if key not in zip_tests] == []
    assert shipped_thresholds == (otter_export.package_folder() / "thresholds.json").read_text()
    assert ("files/autograder/thresholds.py" in names) == bool(keys)
    if assignment == "cnn_mnist":
        assert HELDOUT_PATTERN.search(zip_tests)
        assert {"files/autograder/datasets.py", "files/autograder/answers.py"} <= set(names)


def _grade(
    course: Course,
    export: otter_export.OtterExport,
    workdir: Path,
    capsys: pytest.CaptureFixture,
    only: set[str],
) -> None:
    rows = otter_export.check_parity(
        course, export, workdir, only, workers=load_settings(course).workers, say=lambda _: None
    )
    table = otter_export.format_parity_table(rows)
    with capsys.disabled():
        print(f"\n{table}")
    assert {row.submission for row in rows} == only
    solution = next(row for row in rows if row.submission == "solution")
    assert solution.otter == solution.points, table
    assert all(row.matches for row in rows), table


@pytest.mark.parametrize(
    "assignment",
    [
        "forward_pass",
        "backprop",
        pytest.param("iris_comparison", marks=pytest.mark.slow),
        pytest.param("cnn_mnist", marks=pytest.mark.slow),
        "regression",
    ],
)
def test_otter_grades_the_fixtures_like_nbgrader(
    course: Course,
    export_of: Exporter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    assignment: str,
) -> None:
    """The answer key, the first alternative and the first mistake of every item: each
    test's passing and failing path. ``make otter-parity`` grades every fixture."""
    names = {submission.name for submission in otter_export.parity_submissions(course, assignment)}
    only = {"solution", "alternatives-1", "mistakes-1"}
    assert only <= names
    _grade(course, export_of(assignment), tmp_path, capsys, only)
