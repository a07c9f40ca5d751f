"""Grades out of the course: nbgrader's CSV, one JSON record per submission, and the
LMS's grade import files (:mod:`autograder.lms_export`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder import lms_export, records
from autograder.course import Course
from autograder.settings import course_db_url

EXPORTS_DIR = "exports"


@dataclass
class Exported:
    paths: list[Path]
    notes: list[str]  # for the person exporting
    grades: lms_export.ClassGrades


def export(course: Course, assignments: list[str]) -> Exported:
    """Write ``exports/``: the LMS files, ``grades.csv`` (nbgrader) and
    ``<assignment>.jsonl``."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    folder = course.root / EXPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # First: it applies the late penalties nbgrader's CSV reports too.
    written, class_grades = lms_export.export(course, assignments, folder)
    grades = folder / "grades.csv"
    with Gradebook(course_db_url(course)) as gradebook:
        CsvExportPlugin(to=str(grades)).export(gradebook)
    written.append(grades)
    for assignment in assignments:
        path = folder / f"{assignment}.jsonl"
        lines = [
            json.dumps(asdict(r), sort_keys=True) for r in records.load_all(course, assignment)
        ]
        path.write_text("".join(line + "\n" for line in lines))
        written.append(path)
    notes = [
        f"{student}'s {assignment} awaits manual grading: exported without those points"
        for assignment, student in class_grades.awaiting_manual()
    ]
    return Exported(written, notes, class_grades)
