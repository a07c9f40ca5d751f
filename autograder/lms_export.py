"""Grades for the LMS: Canvas's and Moodle's grade import CSVs, and one row per item.

Every student of the roster (and anyone else with a submission) gets a row; a student
without a submission gets an empty cell, never a zero the LMS would count. A score is
the gradebook's: automatic points, the TA's points where given, less the late penalty
(:mod:`autograder.deadlines` applies it first). ``items.csv`` has one row per graded
cell and one per late penalty (negative), so a student's rows add up to the score the
LMS files give.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from traitlets import Dict, Unicode
from traitlets.config import Configurable

from autograder import deadlines
from autograder.course import Course
from autograder.roster import Student, course_roster
from autograder.settings import course_db_url, load_config
from autograder.spreadsheet import text_cell

CANVAS_NAME, MOODLE_NAME, ITEMS_NAME = "canvas_grades.csv", "moodle_grades.csv", "items.csv"
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_FIXED = ["First name", "Last name", "ID number", "Email address"]
ITEM_COLUMNS = [
    "student_id", "first_name", "last_name", "section", "assignment", "item", "kind",
    "score", "max_score", "status",
]  # fmt: skip


class LmsExport(Configurable):
    """What the LMS calls each assignment's grade column."""

    canvas_columns = Dict(
        value_trait=Unicode(),
        help="Canvas column per assignment, as Canvas's own export names it, e.g. "
        "{'forward_pass': 'Forward pass (4711)'}: with the number, Canvas updates that "
        "assignment; without one it creates an assignment of the name.",
    ).tag(config=True)
    moodle_columns = Dict(
        value_trait=Unicode(),
        help="Moodle column per assignment, e.g. {'forward_pass': 'Forward pass'}.",
    ).tag(config=True)


@dataclass
class ItemGrade:
    item: str
    manual: bool
    score: float | None  # None: a TA has not scored it yet
    max_score: float


@dataclass
class SubmissionGrade:
    """One student's graded submission of one assignment."""

    raw: float  # automatic points and the TA's where given
    penalty: float
    awaiting_manual: bool
    items: list[ItemGrade] = field(default_factory=list)

    @property
    def score(self) -> float:
        return max(0.0, self.raw - self.penalty)


@dataclass
class ClassGrades:
    assignments: list[str]
    max_scores: dict[str, float]
    students: list[Student]
    grades: dict[tuple[str, str], SubmissionGrade]  # (assignment, student id)

    def awaiting_manual(self) -> list[tuple[str, str]]:
        return sorted(key for key, grade in self.grades.items() if grade.awaiting_manual)


def points(value: float) -> str:
    return f"{round(value, 2):g}"


def class_grades(course: Course, assignments: list[str]) -> ClassGrades:
    """Penalties applied, then every submission's grade from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    for assignment in assignments:
        deadlines.apply(course, assignment)
    roster = course_roster(course)
    max_scores: dict[str, float] = {}
    grades: dict[tuple[str, str], SubmissionGrade] = {}
    with Gradebook(course_db_url(course)) as gradebook:
        known = {s.id: s for s in gradebook.students}
        for assignment in assignments:
            try:
                found = gradebook.find_assignment(assignment)
            except MissingEntry:
                max_scores[assignment] = 0.0
                continue
            max_scores[assignment] = float(found.max_score)
            for submission in found.submissions:
                grades[(assignment, submission.student.id)] = _submission_grade(submission)
    for student_id in sorted({student for _, student in grades} | set(known)):
        if student_id not in roster:
            person = known.get(student_id)
            roster[student_id] = Student(
                student_id,
                first_name=(person.first_name if person else None) or "",
                last_name=(person.last_name if person else None) or "",
                email=(person.email if person else None) or "",
                lms_id=(person.lms_user_id if person else None) or "",
            )
    students = sorted(roster.values(), key=lambda s: (s.last_name, s.first_name, s.student_id))
    return ClassGrades(assignments, max_scores, students, grades)


def _submission_grade(submission) -> SubmissionGrade:
    items = []
    penalty = 0.0
    for notebook in submission.notebooks:
        penalty += notebook.late_submission_penalty or 0.0
        # nbgrader grades a cell by hand when it is both a grade and a solution cell.
        answers = {cell.name for cell in notebook.notebook.solution_cells}
        for grade in notebook.grades:
            manual = grade.name in answers
            score = grade.manual_score if grade.manual_score is not None else grade.auto_score
            shown = None if score is None else float(score)
            items.append(ItemGrade(grade.name, manual, shown, float(grade.max_score)))
    items.sort(key=lambda item: item.item)
    return SubmissionGrade(
        raw=float(submission.score),
        penalty=float(penalty),
        awaiting_manual=bool(submission.needs_manual_grade),
        items=items,
    )


def _write(path: Path, rows: Iterable[list[str]]) -> Path:
    """Every cell is text here (scores are formatted already): a name or id from an LMS
    that starts like a formula is kept from running as one; a negative score is not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([cell if _is_number(cell) else text_cell(cell) for cell in row])
    return path


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _cell(grades: ClassGrades, assignment: str, student: Student) -> str:
    grade = grades.grades.get((assignment, student.student_id))
    return "" if grade is None else points(grade.score)


def write_canvas(grades: ClassGrades, path: Path, columns: dict[str, str]) -> Path:
    """Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then
    a column per assignment, and Canvas's "Points Possible" row under the header."""
    names = [columns.get(assignment, assignment) for assignment in grades.assignments]
    rows = [
        CANVAS_FIXED + names,
        ["Points Possible", "", "", "", ""]
        + [points(grades.max_scores[a]) for a in grades.assignments],
    ]
    for student in grades.students:
        rows.append(
            [
                student.sortable_name,
                student.lms_id,
                student.student_id,
                student.login or student.email,
                student.section,
                *(_cell(grades, assignment, student) for assignment in grades.assignments),
            ]
        )
    return _write(path, rows)


def write_moodle(grades: ClassGrades, path: Path, columns: dict[str, str]) -> Path:
    """Moodle's "Import grades from CSV": the student's names, ID number and email (map
    either to the user), then a column per assignment."""
    names = [columns.get(assignment, assignment) for assignment in grades.assignments]
    rows = [MOODLE_FIXED + names]
    for student in grades.students:
        rows.append(
            [
                student.first_name,
                student.last_name,
                student.student_id,
                student.email,
                *(_cell(grades, assignment, student) for assignment in grades.assignments),
            ]
        )
    return _write(path, rows)


def write_items(grades: ClassGrades, path: Path) -> Path:
    """A row per graded cell of each submission and one per late penalty."""
    rows = [ITEM_COLUMNS]
    for student in grades.students:
        who = [student.student_id, student.first_name, student.last_name, student.section]
        for assignment in grades.assignments:
            grade = grades.grades.get((assignment, student.student_id))
            if grade is None:
                rows.append([*who, assignment, "", "", "", points(grades.max_scores[assignment]),
                             "not submitted"])  # fmt: skip
                continue
            for item in grade.items:
                kind = "manual" if item.manual else "auto"
                score = "" if item.score is None else points(item.score)
                status = "awaiting TA" if item.score is None else "graded"
                rows.append(
                    [*who, assignment, item.item, kind, score, points(item.max_score), status]
                )
            if grade.penalty:
                rows.append([*who, assignment, "late penalty", "penalty",
                             points(-grade.penalty), "", "graded"])  # fmt: skip
    return _write(path, rows)


def export(course: Course, assignments: list[str], folder: Path) -> tuple[list[Path], ClassGrades]:
    """The three CSVs of ``assignments`` into ``folder``."""
    settings = LmsExport(config=load_config(course))
    grades = class_grades(course, assignments)
    written = [
        write_canvas(grades, folder / CANVAS_NAME, dict(settings.canvas_columns)),
        write_moodle(grades, folder / MOODLE_NAME, dict(settings.moodle_columns)),
        write_items(grades, folder / ITEMS_NAME),
    ]
    return written, grades
