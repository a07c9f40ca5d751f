"""The course roster: ``roster.csv`` at the course root, one row per student.

Columns: ``student_id`` (required: the id students submit under), ``first_name``,
``last_name``, ``email``, ``lms_id`` (the student's id in Canvas or Moodle), ``section``
and optionally ``login`` (the LMS login, Canvas's "SIS Login ID"). :func:`load`
puts the names, emails and LMS ids into nbgrader's gradebook (formgrader shows them);
collecting a Canvas or Moodle zip, the reports and the grade exports read the file.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.course import Course
from autograder.errors import CourseError
from autograder.intake import SAFE_NAME
from autograder.settings import course_db_url

ROSTER_NAME = "roster.csv"
COLUMNS = ("student_id", "first_name", "last_name", "email", "lms_id", "section", "login")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class Student:
    student_id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_id: str = ""
    section: str = ""
    login: str = ""

    @property
    def name(self) -> str:
        """'First Last'; empty when the roster gives no name."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def sortable_name(self) -> str:
        """'Last, First', as Canvas writes a student's name (the id when there is none)."""
        if self.last_name and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.name or self.student_id


def roster_path(course: Course) -> Path:
    return course.root / ROSTER_NAME


def read(path: Path) -> list[Student]:
    """The students of a roster file, checked: clear errors name the line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CourseError(f"{path}: cannot read the roster: {error}") from error
    if "student_id" not in header:
        raise CourseError(
            f"{path}: a roster is a CSV file whose header names student_id "
            f"(and any of {', '.join(COLUMNS[1:])}); found {', '.join(header) or 'no header'}"
        )
    students: dict[str, Student] = {}
    for line, row in enumerate(rows, start=2):
        values = {
            (key or "").strip(): (value or "").strip()
            for key, value in row.items()
            if isinstance(value, str)
        }
        if not any(values.values()):
            continue
        student = Student(**{column: values.get(column, "") for column in COLUMNS})
        where = f"{path}, line {line}"
        if not SAFE_NAME.match(student.student_id):
            raise CourseError(f"{where}: {student.student_id!r} cannot be a student id")
        if student.student_id in students:
            raise CourseError(f"{where}: {student.student_id} is in the roster twice")
        if student.email and not EMAIL.match(student.email):
            raise CourseError(f"{where}: {student.email!r} is not an email address")
        students[student.student_id] = student
    return list(students.values())


def course_roster(course: Course) -> dict[str, Student]:
    """The course's roster by student id; empty when the course has no roster file."""
    path = roster_path(course)
    return {student.student_id: student for student in read(path)} if path.is_file() else {}


def load(course: Course, path: Path | None = None) -> tuple[list[Student], list[str]]:
    """Put the roster's students into the gradebook; returns them, and the students of
    the gradebook that the roster lacks (kept, with their grades)."""
    from nbgrader.api import Gradebook

    students = read(path or roster_path(course))
    with Gradebook(course_db_url(course)) as gradebook:
        for student in students:
            gradebook.update_or_create_student(
                student.student_id,
                first_name=student.first_name or None,
                last_name=student.last_name or None,
                email=student.email or None,
                lms_user_id=student.lms_id or None,
            )
        listed = {student.student_id for student in students}
        missing = sorted(s.id for s in gradebook.students if s.id not in listed)
    return students, missing
