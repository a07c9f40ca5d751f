"""Copy one submission's automatic grades from a worker's private gradebook.

Each worker grades into its own copy of the SQLite gradebook; the parent process
copies the results into the course gradebook one submission at a time, so the
course gradebook ends up exactly as if everything had been graded sequentially,
with no "database is locked". Manual scores already given by TAs are kept.

Between two SQLite files whose assignment, notebooks and cells have the same ids (the
worker's gradebook is a copy of the course's), the rows are copied in SQL, in one
transaction: a tenth of the CPU of nbgrader's object layer, which the kernels being
graded beside it need. Otherwise (a server database, or cells that changed since the
batch began) nbgrader's API copies them; both give the same gradebook.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import OperationalError

from autograder.errors import CourseError
from autograder.settings import sqlite_path

# How long a merge waits for a gradebook another program (formgrader) holds locked.
LOCKED_ATTEMPTS = 6
LOCKED_WAIT_SECONDS = 5.0


def merge_submission(source_url: str, target_url: str, assignment: str, student: str) -> None:
    """:func:`copy_submission`, waiting while the course gradebook is locked."""
    for _ in range(LOCKED_ATTEMPTS):
        try:
            copy_submission(source_url, target_url, assignment, student)
            return
        except (OperationalError, sqlite3.OperationalError) as error:
            if "locked" not in str(error):
                raise
            time.sleep(LOCKED_WAIT_SECONDS)
    waited = LOCKED_ATTEMPTS * LOCKED_WAIT_SECONDS
    raise CourseError(
        f"the gradebook {target_url} stayed locked by another program (formgrader?) for "
        f"{waited:g} s, so {student}'s grade was not saved; run grade again once it is free"
    )


def copy_submission(source_url: str, target_url: str, assignment: str, student: str) -> None:
    """The student's submission of ``assignment``, as graded in ``source_url``, into
    ``target_url``: created there, or its automatic grades, comments and flags updated."""
    source, target = sqlite_path(source_url), sqlite_path(target_url)
    if source is None or target is None or not _copied_in_sql(source, target, assignment, student):
        _copy_with_nbgrader(source_url, target_url, assignment, student)


def _copy_with_nbgrader(source_url: str, target_url: str, assignment: str, student: str) -> None:
    with Gradebook(source_url) as source, Gradebook(target_url) as target:
        submitted = source.find_submission(assignment, student)
        try:
            target.find_student(student)
        except MissingEntry:
            target.add_student(student)
        target.update_or_create_submission(assignment, student, timestamp=submitted.timestamp)
        for notebook in submitted.notebooks:
            target_notebook = target.find_submission_notebook(notebook.name, assignment, student)
            target_notebook.flagged = notebook.flagged
            for grade in notebook.grades:
                copy = target.find_grade(grade.name, notebook.name, assignment, student)
                copy.auto_score = grade.auto_score
                copy.needs_manual_grade = grade.needs_manual_grade
            for comment in notebook.comments:
                copy = target.find_comment(comment.name, notebook.name, assignment, student)
                copy.auto_comment = comment.auto_comment
        target.db.commit()


# The columns nbgrader's API copies; the others of a new submission are left empty,
# as nbgrader's own add_submission leaves them.
_NEW_SUBMISSION = """
INSERT INTO main.submitted_assignment (id, assignment_id, student_id, timestamp)
    SELECT id, assignment_id, student_id, timestamp
    FROM worker.submitted_assignment WHERE id = :worker;
INSERT INTO main.submitted_notebook (id, assignment_id, notebook_id, flagged)
    SELECT id, assignment_id, notebook_id, flagged
    FROM worker.submitted_notebook WHERE assignment_id = :worker;
INSERT INTO main.grade (id, notebook_id, cell_id, auto_score, needs_manual_grade)
    SELECT grade.id, grade.notebook_id, grade.cell_id, grade.auto_score, grade.needs_manual_grade
    FROM worker.grade AS grade JOIN worker.submitted_notebook AS notebook
        ON notebook.id = grade.notebook_id
    WHERE notebook.assignment_id = :worker;
INSERT INTO main.comment (id, notebook_id, cell_id, auto_comment)
    SELECT comment.id, comment.notebook_id, comment.cell_id, comment.auto_comment
    FROM worker.comment AS comment JOIN worker.submitted_notebook AS notebook
        ON notebook.id = comment.notebook_id
    WHERE notebook.assignment_id = :worker;
"""


def _cell_update(table: str, columns: tuple[str, ...]) -> str:
    """The statement updating ``columns`` of the course submission's rows of ``table``
    (grades or comments: one per cell of each notebook) from the worker's."""
    updated = ", ".join(f"{column} = graded.{column}" for column in columns)
    return f"""
        UPDATE main.{table} SET {updated}
        FROM worker.{table} AS graded
            JOIN worker.submitted_notebook AS graded_notebook
                ON graded_notebook.id = graded.notebook_id
            JOIN main.submitted_notebook AS course_notebook
                ON course_notebook.notebook_id = graded_notebook.notebook_id
        WHERE graded_notebook.assignment_id = :worker
            AND course_notebook.assignment_id = :course
            AND main.{table}.notebook_id = course_notebook.id
            AND main.{table}.cell_id = graded.cell_id"""


# Each statement updates the rows of one table; the number it changed is checked.
_UPDATES = {
    "submitted_assignment": """
        UPDATE main.submitted_assignment SET timestamp = graded.timestamp
        FROM worker.submitted_assignment AS graded
        WHERE graded.id = :worker AND main.submitted_assignment.id = :course""",
    "submitted_notebook": """
        UPDATE main.submitted_notebook SET flagged = graded.flagged
        FROM worker.submitted_notebook AS graded
        WHERE graded.assignment_id = :worker
            AND main.submitted_notebook.assignment_id = :course
            AND main.submitted_notebook.notebook_id = graded.notebook_id""",
    "grade": _cell_update("grade", ("auto_score", "needs_manual_grade")),
    "comment": _cell_update("comment", ("auto_comment",)),
}
_WORKER_ROWS = {
    "submitted_assignment": "SELECT count(*) FROM worker.submitted_assignment WHERE id = :worker",
    "submitted_notebook": (
        "SELECT count(*) FROM worker.submitted_notebook WHERE assignment_id = :worker"
    ),
    **{
        table: f"""SELECT count(*) FROM worker.{table} AS item
            JOIN worker.submitted_notebook AS notebook ON notebook.id = item.notebook_id
            WHERE notebook.assignment_id = :worker"""
        for table in ("grade", "comment")
    },
}
# Rows of the worker's submission that name a notebook or cell the course lacks.
_UNKNOWN_REFERENCES = """
SELECT count(*) FROM worker.submitted_notebook AS notebook
    WHERE notebook.assignment_id = :worker
        AND notebook.notebook_id NOT IN (SELECT id FROM main.notebook)
UNION ALL
SELECT count(*) FROM worker.grade AS item
    JOIN worker.submitted_notebook AS notebook ON notebook.id = item.notebook_id
    WHERE notebook.assignment_id = :worker
        AND item.cell_id NOT IN (SELECT id FROM main.base_cell)
UNION ALL
SELECT count(*) FROM worker.comment AS item
    JOIN worker.submitted_notebook AS notebook ON notebook.id = item.notebook_id
    WHERE notebook.assignment_id = :worker
        AND item.cell_id NOT IN (SELECT id FROM main.base_cell)
"""


def _copied_in_sql(source: Path, target: Path, assignment: str, student: str) -> bool:
    """Copy in one SQL transaction; False (and nothing changed) when the two files'
    assignment, notebooks or cells differ, or the course's submission lacks a row."""
    with closing(sqlite3.connect(target, isolation_level=None)) as db:
        db.execute("ATTACH DATABASE ? AS worker", (f"{source.resolve().as_uri()}?mode=ro",))
        db.execute("BEGIN IMMEDIATE")
        try:
            copied = _copy_rows(db, assignment, student)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT" if copied else "ROLLBACK")
        return copied


def _copy_rows(db: sqlite3.Connection, assignment: str, student: str) -> bool:
    found = db.execute(
        """SELECT submission.id, submission.assignment_id,
                (SELECT id FROM main.assignment WHERE name = :assignment)
        FROM worker.submitted_assignment AS submission
            JOIN worker.assignment AS assignment ON assignment.id = submission.assignment_id
        WHERE assignment.name = :assignment AND submission.student_id = :student""",
        {"assignment": assignment, "student": student},
    ).fetchone()
    if found is None:
        return False
    worker, worker_assignment, course_assignment = found
    if worker_assignment != course_assignment:
        return False
    keys = {"worker": worker}
    if any(count for (count,) in db.execute(_UNKNOWN_REFERENCES, keys)):
        return False
    db.execute("INSERT OR IGNORE INTO main.student (id) VALUES (?)", (student,))
    existing = db.execute(
        "SELECT id FROM main.submitted_assignment WHERE assignment_id = ? AND student_id = ?",
        (course_assignment, student),
    ).fetchone()
    if existing is None:
        for statement in _NEW_SUBMISSION.split(";"):
            if statement.strip():
                db.execute(statement, keys)
        return True
    keys["course"] = existing[0]
    for table, update in _UPDATES.items():
        (expected,) = db.execute(_WORKER_ROWS[table], keys).fetchone()
        if db.execute(update, keys).rowcount != expected:
            return False
    return True


def item_scores(db_url: str, assignment: str, student: str) -> dict[str, dict[str, float]]:
    """Score and maximum per graded cell of a submission."""
    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            grade.name: {"score": float(grade.score), "max_score": float(grade.max_score)}
            for notebook in submission.notebooks
            for grade in notebook.grades
        }
