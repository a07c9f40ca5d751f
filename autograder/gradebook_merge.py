"""Copy one submission's automatic grades from a worker's private gradebook.

Each worker grades into its own copy of the SQLite gradebook; the parent process
copies the results into the course gradebook one submission at a time, so the
course gradebook ends up exactly as if everything had been graded sequentially,
with no "database is locked". Manual scores already given by TAs are kept.
"""

from __future__ import annotations

import time

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import OperationalError

from autograder.errors import CourseError

# How long a merge waits for a gradebook another program (formgrader) holds locked.
LOCKED_ATTEMPTS = 6
LOCKED_WAIT_SECONDS = 5.0


def merge_submission(source_url: str, target_url: str, assignment: str, student: str) -> None:
    """:func:`copy_submission`, waiting while the course gradebook is locked."""
    for _ in range(LOCKED_ATTEMPTS):
        try:
            copy_submission(source_url, target_url, assignment, student)
            return
        except OperationalError as error:
            if "locked" not in str(error):
                raise
            time.sleep(LOCKED_WAIT_SECONDS)
    waited = LOCKED_ATTEMPTS * LOCKED_WAIT_SECONDS
    raise CourseError(
        f"the gradebook {target_url} stayed locked by another program (formgrader?) for "
        f"{waited:g} s, so {student}'s grade was not saved; run grade again once it is free"
    )


def copy_submission(source_url: str, target_url: str, assignment: str, student: str) -> None:
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


def item_scores(db_url: str, assignment: str, student: str) -> dict[str, dict[str, float]]:
    """Score and maximum per graded cell of a submission."""
    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {
            grade.name: {"score": float(grade.score), "max_score": float(grade.max_score)}
            for notebook in submission.notebooks
            for grade in notebook.grades
        }
