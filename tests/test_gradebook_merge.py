"""Merging a worker's graded submission into the course gradebook.

The SQL copy between two SQLite files must leave exactly what nbgrader's API leaves
(ids aside), for a new submission and for a regrade that keeps a TA's manual score;
where the worker's cells are not the course's it must step aside for the API.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest
from nbgrader.api import Gradebook

from autograder import gradebook_merge

ASSIGNMENT, NOTEBOOK = "forward_pass", "forward_pass"


def _course_gradebook(blank: Path, path: Path) -> str:
    """An assignment with an autograded test, a manually graded answer and a task."""
    shutil.copy(blank, path)
    url = f"sqlite:///{path}"
    with Gradebook(url) as gradebook:
        gradebook.add_assignment(ASSIGNMENT, duedate=datetime(2026, 12, 1, 17))
        gradebook.add_notebook(NOTEBOOK, ASSIGNMENT)
        gradebook.add_grade_cell("test_shape", NOTEBOOK, ASSIGNMENT, max_score=2, cell_type="code")
        gradebook.add_grade_cell("explain", NOTEBOOK, ASSIGNMENT, max_score=1, cell_type="markdown")
        gradebook.add_solution_cell("explain", NOTEBOOK, ASSIGNMENT)
        gradebook.add_solution_cell("forward", NOTEBOOK, ASSIGNMENT)
        gradebook.add_task_cell("plot", NOTEBOOK, ASSIGNMENT, max_score=1, cell_type="markdown")
    return url


def _graded_copy(course: Path, folder: Path, student: str, auto: float, flagged: bool) -> str:
    """The course's gradebook with ``student`` graded in it, as a worker leaves it."""
    folder.mkdir()
    path = folder / "graded.db"
    shutil.copy(course, path)
    url = f"sqlite:///{path}"
    with Gradebook(url) as gradebook:
        gradebook.add_student(student)
        gradebook.add_submission(ASSIGNMENT, student, timestamp=datetime(2026, 12, 1, 16, 59))
        grade = gradebook.find_grade("test_shape", NOTEBOOK, ASSIGNMENT, student)
        grade.auto_score, grade.needs_manual_grade = auto, False
        gradebook.find_comment("forward", NOTEBOOK, ASSIGNMENT, student).auto_comment = "ran"
        notebook = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
        notebook.flagged = flagged
        notebook.late_submission_penalty = 0.5  # not merged (the course's due date rules)
        gradebook.db.commit()
    return url


def _rows(path: Path) -> dict[str, list[tuple]]:
    """Every student table's rows, with random ids replaced by what they point at."""
    with sqlite3.connect(path) as db:
        return {
            "student": db.execute("SELECT * FROM student ORDER BY id").fetchall(),
            "submission": db.execute(
                """SELECT assignment_id, student_id, timestamp, extension
                FROM submitted_assignment ORDER BY student_id"""
            ).fetchall(),
            "notebook": db.execute(
                """SELECT s.student_id, n.notebook_id, n.flagged, n.late_submission_penalty
                FROM submitted_notebook n JOIN submitted_assignment s ON s.id = n.assignment_id
                ORDER BY s.student_id"""
            ).fetchall(),
            "grade": db.execute(
                """SELECT s.student_id, g.cell_id, g.auto_score, g.manual_score,
                    g.extra_credit, g.needs_manual_grade
                FROM grade g JOIN submitted_notebook n ON n.id = g.notebook_id
                JOIN submitted_assignment s ON s.id = n.assignment_id
                ORDER BY s.student_id, g.cell_id"""
            ).fetchall(),
            "comment": db.execute(
                """SELECT s.student_id, c.cell_id, c.auto_comment, c.manual_comment
                FROM comment c JOIN submitted_notebook n ON n.id = c.notebook_id
                JOIN submitted_assignment s ON s.id = n.assignment_id
                ORDER BY s.student_id, c.cell_id"""
            ).fetchall(),
        }


@pytest.fixture
def course(blank_gradebook: Path, tmp_path: Path) -> Path:
    path = tmp_path / "gradebook.db"
    _course_gradebook(blank_gradebook, path)
    return path


def _merged_both_ways(course: Path, tmp_path: Path, merges: list[tuple[str, str]]):
    """The course gradebook after ``merges`` (source url, student), by SQL and by the API."""
    by_sql, by_api = tmp_path / "by-sql.db", tmp_path / "by-api.db"
    shutil.copy(course, by_sql)
    shutil.copy(course, by_api)
    for source, student in merges:
        with mock.patch.object(
            gradebook_merge, "_copy_with_nbgrader", side_effect=AssertionError("not in SQL")
        ):
            gradebook_merge.merge_submission(source, f"sqlite:///{by_sql}", ASSIGNMENT, student)
        gradebook_merge._copy_with_nbgrader(source, f"sqlite:///{by_api}", ASSIGNMENT, student)
    return _rows(by_sql), _rows(by_api), by_sql


def test_a_new_submission_copied_in_sql_equals_nbgraders_copy(course: Path, tmp_path: Path):
    alice = _graded_copy(course, tmp_path / "alice", "alice", auto=2, flagged=False)
    bob = _graded_copy(course, tmp_path / "bob", "bob", auto=0, flagged=True)
    by_sql, by_api, merged = _merged_both_ways(course, tmp_path, [(alice, "alice"), (bob, "bob")])
    assert by_sql == by_api
    assert [row[0] for row in by_sql["student"]] == ["alice", "bob"]
    with Gradebook(f"sqlite:///{merged}") as gradebook:
        assert gradebook.find_submission(ASSIGNMENT, "alice").code_score == 2
        assert gradebook.find_submission(ASSIGNMENT, "bob").code_score == 0
        assert gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "bob").flagged


def test_a_regrade_in_sql_updates_automatic_grades_and_keeps_the_tas(course: Path, tmp_path: Path):
    first = _graded_copy(course, tmp_path / "first", "alice", auto=0, flagged=True)
    again = _graded_copy(course, tmp_path / "again", "alice", auto=2, flagged=False)
    by_sql, by_api = tmp_path / "by-sql.db", tmp_path / "by-api.db"
    for path in (by_sql, by_api):
        shutil.copy(course, path)
        gradebook_merge._copy_with_nbgrader(first, f"sqlite:///{path}", ASSIGNMENT, "alice")
        with Gradebook(f"sqlite:///{path}") as gradebook:
            gradebook.find_grade("explain", NOTEBOOK, ASSIGNMENT, "alice").manual_score = 1
            gradebook.find_comment("explain", NOTEBOOK, ASSIGNMENT, "alice").manual_comment = "ok"
            gradebook.db.commit()
    with mock.patch.object(
        gradebook_merge, "_copy_with_nbgrader", side_effect=AssertionError("not in SQL")
    ):
        gradebook_merge.merge_submission(again, f"sqlite:///{by_sql}", ASSIGNMENT, "alice")
    gradebook_merge._copy_with_nbgrader(again, f"sqlite:///{by_api}", ASSIGNMENT, "alice")
    assert _rows(by_sql) == _rows(by_api)
    with Gradebook(f"sqlite:///{by_sql}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "alice")
        assert (submission.code_score, submission.written_score) == (2, 1)
        assert not gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "alice").flagged
        comment = gradebook.find_comment("explain", NOTEBOOK, ASSIGNMENT, "alice")
        assert comment.manual_comment == "ok"


def test_cells_that_changed_since_the_batch_began_are_merged_by_nbgrader(
    course: Path, tmp_path: Path
):
    """A worker's gradebook whose test cell is not the course's (the cell was deleted
    and added again while the batch ran): the SQL copy changes nothing, the API merges."""
    graded = _graded_copy(course, tmp_path / "alice", "alice", auto=2, flagged=False)
    worker_file = Path(graded.removeprefix("sqlite:///"))
    with sqlite3.connect(worker_file) as db:
        [(cell,)] = db.execute("SELECT id FROM base_cell WHERE name = 'test_shape'").fetchall()
        for table, column in (("base_cell", "id"), ("grade_cells", "id"), ("grade", "cell_id")):
            db.execute(f"UPDATE {table} SET {column} = 'renewed' WHERE {column} = ?", (cell,))
    before = _rows(course)
    assert not gradebook_merge._copied_in_sql(worker_file, course, ASSIGNMENT, "alice")
    assert _rows(course) == before
    gradebook_merge.merge_submission(graded, f"sqlite:///{course}", ASSIGNMENT, "alice")
    with Gradebook(f"sqlite:///{course}") as gradebook:
        assert gradebook.find_submission(ASSIGNMENT, "alice").code_score == 2
