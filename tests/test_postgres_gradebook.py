"""The gradebook on a real PostgreSQL server (``c.CourseDirectory.db_url``).

The same submissions are graded in parallel into PostgreSQL and into the default
SQLite gradebook: both gradebooks and the grading records must agree, formgrader's
queries must read the server's gradebook, and a forced regrade must change nothing
there and count nothing twice.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from conftest import one_assignment_course, tiny_notebook
from postgres_server import PostgresServer
from test_pipeline import SANDBOX_EXPECTED, prepare

from autograder import records
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse
from autograder.pipeline import BatchGrader
from autograder.settings import course_db_url, limits_from, load_settings

CHOSEN = ["full-marks", "blank", "relu-wrong-sign", "changed-locked-cell"]


def use_gradebook(course: Course, db_url: str) -> None:
    """Point the course's nbgrader configuration at ``db_url``."""
    config = course.root / "nbgrader_config.py"
    config.write_text(config.read_text() + f"\nc.CourseDirectory.db_url = {db_url!r}\n")


def grade(course: Course, force: bool = False) -> dict[str, records.GradingRecord]:
    settings = load_settings(course, backend="sandbox", workers=2, max_processes=200)
    limits = dataclasses.replace(limits_from(course, settings), cell_timeout=8)
    graded = BatchGrader(course, settings, limits).grade("tiny", force=force, say=lambda _: None)
    return {record.student: record for record in graded}


def gradebook_contents(db_url: str) -> dict[str, object]:
    """Students, submissions, per-cell scores and row counts, through nbgrader's API."""
    from nbgrader.api import (
        Comment,
        Gradebook,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )
    from nbgrader.api import Grade as GradeRow

    with Gradebook(db_url) as gradebook:
        submissions = gradebook.assignment_submissions("tiny")
        return {
            "students": sorted(student.id for student in gradebook.students),
            "submissions": sorted(submission.student.id for submission in submissions),
            "scores": {
                (submission.student.id, notebook.name, grade.name): (
                    grade.auto_score,
                    grade.manual_score,
                    grade.max_score,
                    grade.needs_manual_grade,
                )
                for submission in submissions
                for notebook in submission.notebooks
                for grade in notebook.grades
            },
            "comments": sorted(
                (submission.student.id, comment.name, comment.auto_comment)
                for submission in submissions
                for notebook in submission.notebooks
                for comment in notebook.comments
            ),
            "rows": {
                table.__tablename__: gradebook.db.query(table).count()
                for table in (Student, SubmittedAssignment, SubmittedNotebook, GradeRow, Comment)
            },
        }


def formgrader_view(course: Course) -> dict[str, dict[str, object]]:
    """formgrader's list of the assignment's submissions, without ids and times."""
    shown = NbgraderCourse.for_course(course).api().get_submissions("tiny")
    kept = ("score", "max_score", "code_score", "written_score", "needs_manual_grade")
    return {entry["student"]: {key: entry[key] for key in kept} for entry in shown}


def test_postgres_gradebook_grades_like_sqlite_and_formgrader_reads_it(
    tmp_path: Path, postgres_server: PostgresServer, listening_port: int
) -> None:
    url = postgres_server.create_database("tiny_parity")
    postgres = one_assignment_course(tmp_path / "postgres", "tiny", tiny_notebook())
    use_gradebook(postgres, url)
    assert course_db_url(postgres) == url
    sqlite = one_assignment_course(tmp_path / "sqlite", "tiny", tiny_notebook())
    assert course_db_url(sqlite).startswith("sqlite:///")
    prepare(postgres, listening_port, CHOSEN)
    prepare(sqlite, listening_port, CHOSEN)

    on_postgres, on_sqlite = grade(postgres), grade(sqlite)
    for student in CHOSEN:
        score, reasons = SANDBOX_EXPECTED[student]
        for record in (on_postgres[student], on_sqlite[student]):
            assert (record.status, record.score, record.max_score) == ("graded", score, 5)
            assert record.reasons == reasons, student
        assert on_postgres[student].items == on_sqlite[student].items, student
    assert not (postgres.root / "gradebook.db").exists(), "nothing may fall back to SQLite"
    first = gradebook_contents(url)
    assert first == gradebook_contents(course_db_url(sqlite))
    assert first["students"] == sorted(CHOSEN)
    assert len(first["scores"]) == len(CHOSEN) * 3  # three graded cells each

    # What formgrader shows: the assignment's submissions with their scores.
    api = NbgraderCourse.for_course(postgres).api()
    assert api.coursedir.db_url == url
    shown = {entry["student"]: entry for entry in api.get_submissions("tiny")}
    assert sorted(shown) == sorted(CHOSEN)
    for student in CHOSEN:
        entry = shown[student]
        assert entry["autograded"] and entry["submitted"], student
        assert entry["score"] == on_postgres[student].score, student
        assert entry["max_score"] == 6, student  # 5 automatic points and 1 manual
        # Only a written answer waits for a TA; an untouched stub scores 0 by itself.
        assert entry["needs_manual_grade"] == (student == "full-marks"), student
    assert formgrader_view(postgres) == formgrader_view(sqlite)
    assignment = api.get_assignment("tiny")
    assert assignment["num_submissions"] == len(CHOSEN)
    assert assignment["max_score"] == 6
    notebook_view = {n["student"]: n for n in api.get_notebook_submissions("tiny", "tiny")}
    assert notebook_view["relu-wrong-sign"]["score"] == 2

    again = grade(postgres, force=True)
    assert {s: (r.score, r.reasons) for s, r in again.items()} == {
        s: (r.score, r.reasons) for s, r in on_postgres.items()
    }
    assert gradebook_contents(url) == first, "a forced regrade changed the gradebook"
