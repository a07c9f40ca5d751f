"""Grades out of the course: nbgrader's CSV and one JSON record per submission."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from autograder import records
from autograder.course import Course
from autograder.settings import course_db_url

EXPORTS_DIR = "exports"


def export(course: Course, assignments: list[str]) -> list[Path]:
    """Write ``exports/grades.csv`` (nbgrader) and ``exports/<assignment>.jsonl``."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    folder = course.root / EXPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    grades = folder / "grades.csv"
    with Gradebook(course_db_url(course)) as gradebook:
        CsvExportPlugin(to=str(grades)).export(gradebook)
    written = [grades]
    for assignment in assignments:
        path = folder / f"{assignment}.jsonl"
        lines = [
            json.dumps(asdict(r), sort_keys=True) for r in records.load_all(course, assignment)
        ]
        path.write_text("".join(line + "\n" for line in lines))
        written.append(path)
    return written
