"""Grades that follow the course: changed tests, stale records, typos and grader faults."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from conftest import local_grading_request, submit_answers
from nbgrader.api import Gradebook

from autograder import notebooks, records, worker
from autograder.course import Course
from autograder.errors import CourseError
from autograder.gradebook_tests import digest, gradebook_tests, source_tests
from autograder.settings import course_db_url

RELU = "def relu(z):\n    return np.maximum(0, z)"
ANSWERS = {
    # Right on every input the tests try today; wrong for negative numbers.
    "ada": {"relu": RELU, "double": "def double(x):\n    return abs(2 * x)"},
    "bob": {"relu": RELU, "double": "def double(x):\n    return 2 * x"},
}


def autograder_command(course: Course, *arguments: str, cwd: Path | None = None):
    """The installed ``autograder`` command, as an instructor runs it."""
    command = [str(Path(sys.executable).parent / "autograder"), *arguments]
    command += ["--course", str(course.root)]
    return subprocess.run(command, cwd=cwd or course.root, capture_output=True, text=True)


def scores(course: Course) -> dict[str, tuple[str, float]]:
    return {r.student: (r.status, r.score) for r in records.load_all(course, "tiny")}


def add_hidden_assertion(course: Course, grade_id: str, assertion: str) -> None:
    path = course.source_notebook("tiny")
    notebook = nbformat.read(str(path), as_version=4)
    cell = next(c for c in notebook.cells if notebooks.grade_id(c) == grade_id)
    cell.source = cell.source.replace("### END HIDDEN TESTS", f"{assertion}\n### END HIDDEN TESTS")
    nbformat.write(notebook, str(path))


@pytest.mark.slow
def test_a_changed_test_is_applied_on_the_next_grade_and_stale_records_are_regraded(
    tiny_course: Course,
) -> None:
    submit_answers(tiny_course, "tiny", ANSWERS)
    first = autograder_command(tiny_course, "grade", "tiny", "--workers", "2")
    assert first.returncode == 0, first.stderr
    assert "tiny: 2 to grade (2 not graded yet), 0 already graded and current" in first.stdout
    assert scores(tiny_course) == {"ada": ("graded", 5), "bob": ("graded", 5)}

    # Fewer workers give each kernel more threads: faster, the same grade.
    again = autograder_command(tiny_course, "grade", "tiny", "--workers", "1")
    assert "tiny: 0 to grade, 2 already graded and current" in again.stdout, again.stdout
    with Gradebook(course_db_url(tiny_course)) as gradebook:  # a TA grades ada's answer
        gradebook.find_grade("explain", "tiny", "tiny", "ada").manual_score = 0.5
        gradebook.db.commit()

    add_hidden_assertion(tiny_course, "test_double", "assert double(-3) == -6, 'NEGATIVE'")
    changed = autograder_command(tiny_course, "grade", "tiny", "--workers", "2")
    assert changed.returncode == 0, changed.stderr
    assert "the tests of tiny changed" in changed.stdout
    assert "2 to grade (2 the tests changed)" in changed.stdout
    assert scores(tiny_course) == {"ada": ("graded", 3), "bob": ("graded", 5)}
    current = digest(source_tests(tiny_course, "tiny"))
    assert current == digest(gradebook_tests(course_db_url(tiny_course), "tiny"))
    assert {r.tests_sha256 for r in records.load_all(tiny_course, "tiny")} == {current}
    with Gradebook(course_db_url(tiny_course)) as gradebook:
        assert gradebook.find_grade("explain", "tiny", "tiny", "ada").manual_score == 0.5
        assert gradebook.find_grade("test_double", "tiny", "tiny", "ada").score == 0

    # A record of a failed grading never stands.
    path = records.record_path(tiny_course, "tiny", "bob")
    failed = json.loads(path.read_text()) | {"status": "error", "score": 0}
    path.write_text(json.dumps(failed))
    retried = autograder_command(tiny_course, "grade", "tiny")
    assert "1 to grade (1 the last grading failed), 1 already graded" in retried.stdout
    assert scores(tiny_course)["bob"] == ("graded", 5)


@pytest.mark.slow
def test_unknown_students_are_refused_and_a_failed_submission_fails_the_command(
    tiny_course: Course,
) -> None:
    submit_answers(tiny_course, "tiny", {"bob": ANSWERS["bob"]})
    typo = autograder_command(tiny_course, "grade", "tiny", "--student", "zoe")
    assert typo.returncode != 0
    assert "no submission of tiny from zoe" in typo.stderr
    assert records.load(tiny_course, "tiny", "zoe") is None

    broken = tiny_course.root / "submitted" / "cy" / "tiny" / "tiny.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [')
    run = autograder_command(tiny_course, "grade", "tiny")
    assert run.returncode != 0
    assert "graded now     1" in run.stdout and "failed         1" in run.stdout, run.stdout
    assert "failed: cy: invalid notebook: tiny.ipynb" in run.stdout
    assert "1 submission(s) could not be graded: cy" in run.stderr
    assert scores(tiny_course) == {"bob": ("graded", 5), "cy": ("error", 0)}


def test_a_kernel_without_the_grader_runtime_is_an_error_of_the_run(
    tiny_course: Course, tmp_path: Path
) -> None:
    submit_answers(tiny_course, "tiny", {"bob": ANSWERS["bob"]})
    # A broken package of the same name earlier on the kernel's path hides the grader's.
    (tmp_path / "shadow" / "autograder").mkdir(parents=True)
    (tmp_path / "shadow" / "autograder" / "__init__.py").write_text("raise ImportError('stale')")
    request = local_grading_request(tiny_course, "tiny", "bob")
    with mock.patch.dict(os.environ, PYTHONPATH=str(tmp_path / "shadow")):
        record = worker.grade_safely(request)
    assert record.status == "error"
    assert record.reasons[0].startswith("grader: the kernel cannot run autograder.kernel_calls")
    assert "ImportError: stale" in record.reasons[0]


@pytest.mark.slow
def test_a_course_folder_with_its_own_autograder_package_is_graded_by_the_installed_one(
    tiny_course: Course,
) -> None:
    submit_answers(tiny_course, "tiny", {"bob": ANSWERS["bob"]})
    shadow = tiny_course.root / "autograder"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the course folder, not the grader')")
    run = autograder_command(tiny_course, "grade", "tiny", cwd=tiny_course.root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert scores(tiny_course) == {"bob": ("graded", 5)}


@pytest.mark.slow
def test_two_grading_runs_at_once_end_like_one(tiny_course: Course) -> None:
    submit_answers(tiny_course, "tiny", ANSWERS)
    command = [str(Path(sys.executable).parent / "autograder"), "grade", "tiny"]
    command += ["--course", str(tiny_course.root)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert sum("waiting for the grading run" in output for output in outputs) == 1, outputs
    # The second run found both submissions graded and current.
    assert sum("2 to grade (2 not graded yet)" in output for output in outputs) == 1
    assert sum("0 to grade, 2 already graded and current" in output for output in outputs) == 1
    assert scores(tiny_course) == {"ada": ("graded", 5), "bob": ("graded", 5)}
    with Gradebook(course_db_url(tiny_course)) as gradebook:
        assert len(gradebook.assignment_submissions("tiny")) == 2


def test_files_of_the_submission_never_stand_in_for_the_grader_runtime(tiny_course: Course) -> None:
    submit_answers(tiny_course, "tiny", {"bob": ANSWERS["bob"]})
    folder = tiny_course.root / "submitted" / "bob" / "tiny"
    (folder / "autograder").mkdir()
    (folder / "autograder" / "__init__.py").write_text("raise ImportError('mine')")
    (folder / "numpy.py").write_text("raise ImportError('mine too')")
    record = worker.grade_safely(local_grading_request(tiny_course, "tiny", "bob"))
    assert (record.status, record.score, record.reasons) == ("graded", 5, [])


def test_items_awaiting_a_ta_say_so_and_every_page_states_one_maximum(tiny_course: Course) -> None:
    from autograder import export, feedback, report

    answered = ANSWERS["bob"] | {"explain": "ReLU keeps positive inputs and zeroes the rest."}
    submit_answers(tiny_course, "tiny", {"bob": answered})
    record = worker.grade_safely(local_grading_request(tiny_course, "tiny", "bob"))
    records.save(tiny_course, record)
    (page,), failures = feedback.generate_feedback(tiny_course, "tiny", ["bob"])
    assert failures == {}
    text = _visible_text(page)
    assert "Auto-graded: 5 of 5 points; TA-graded: 1 point awaiting TA grading." in text
    assert re.search(r"\nexplain\n+awaiting\n+\S / 1\n+awaiting TA grading\n", text)
    assert "0 / 1" not in text
    summary = report.write_report(tiny_course, "tiny").read_text()
    assert "of 5 auto-graded points; TAs grade 1 more points, 6 in all" in summary
    (scores,) = csv.DictReader((tiny_course.root / "reports" / "tiny" / "scores.csv").open())
    assert (scores["auto_max"], scores["manual_max"], scores["total_max"]) == ("5.0", "1.0", "6.0")
    export.export(tiny_course, ["tiny"])
    (exported,) = csv.DictReader((tiny_course.root / export.EXPORTS_DIR / "grades.csv").open())
    assert float(exported["max_score"]) == 6

    with Gradebook(course_db_url(tiny_course)) as gradebook:
        gradebook.find_grade("explain", "tiny", "tiny", "bob").manual_score = 1.0
        gradebook.db.commit()
    (page,), _ = feedback.generate_feedback(tiny_course, "tiny", ["bob"])
    text = _visible_text(page)
    assert "Auto-graded: 5 of 5 points; TA-graded: 1 of 1 point." in text
    assert "awaiting TA grading" not in text


def _visible_text(page: Path) -> str:
    visible = re.sub(r"(?s)<style.*?</style>", "", page.read_text())
    return html.unescape(re.sub(r"<[^>]+>", "", visible))


def test_a_gradebook_another_program_keeps_locked_is_reported_not_a_traceback(
    tiny_course: Course, tmp_path: Path
) -> None:
    from autograder import gradebook_merge

    submit_answers(tiny_course, "tiny", {"bob": ANSWERS["bob"]})
    assert worker.grade_safely(local_grading_request(tiny_course, "tiny", "bob")).score == 5
    busy = tmp_path / "busy.db"
    shutil.copy(tiny_course.root / "gradebook.db", busy)
    holder = sqlite3.connect(busy)
    holder.execute("BEGIN EXCLUSIVE")  # as formgrader does while it saves a grade
    with (
        mock.patch.object(gradebook_merge, "LOCKED_ATTEMPTS", 2),
        mock.patch.object(gradebook_merge, "LOCKED_WAIT_SECONDS", 0.1),
        pytest.raises(CourseError, match="stayed locked by another program"),
    ):
        gradebook_merge.merge_submission(
            course_db_url(tiny_course), f"sqlite:///{busy}", "tiny", "bob"
        )
    holder.rollback()
    gradebook_merge.merge_submission(course_db_url(tiny_course), f"sqlite:///{busy}", "tiny", "bob")
    with Gradebook(f"sqlite:///{busy}") as gradebook:
        assert gradebook.find_submission("tiny", "bob").score == 5
