"""The feedback page of a submission that could not be graded: what was wrong and
how to resubmit, in one page, where nbgrader would write nothing at all."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from autograder import records
from autograder.course import Course

TEMPLATES = Path(__file__).resolve().parent / "templates" / "pages"
# What nbgrader's collect leaves in a submission folder, and the text each may hold.
EXCHANGE_FILES = {
    "timestamp.txt": re.compile(r"[0-9][0-9 :.+\-A-Za-z]{8,40}"),
    "submission_secret.txt": re.compile(r"[0-9a-fA-F]{8,256}"),
}


def problems(record: records.GradingRecord) -> list[str]:
    """The record's reasons as sentences a student can act on."""
    sentences = []
    for reason in record.reasons or [record.error or "the grader could not grade it"]:
        kind, _, detail = reason.partition(": ")
        if kind == "invalid notebook":
            name, _, why = detail.partition(": ")
            sentences.append(f"{name} is not a notebook Jupyter can read ({why}).")
        elif kind == "missing notebook":
            sentences.append(f"The notebook {detail} is not in your submission.")
        elif kind == "dropped":
            sentences.append(f"A file was left out: {detail}.")
        elif kind == "grader":
            sentences.append(f"The grader failed, not your work ({detail}); a TA will regrade it.")
        else:
            sentences.append(reason)
    return sentences


def write(course: Course, record: records.GradingRecord) -> Path:
    """Write ``feedback/<student>/<assignment>/<notebook>.html`` for ``record``."""
    notebook = course.source_notebook(record.assignment).name
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    page = environment.get_template("ungradable.html.j2").render(
        assignment=record.assignment,
        student=record.student,
        notebook=notebook,
        problems=problems(record),
    )
    folder = course.root / "feedback" / record.student / record.assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(notebook).stem}.html"
    path.unlink(missing_ok=True)
    path.write_text(page, encoding="utf-8")
    # nbgrader's release_feedback needs the submission's time and secret beside the page.
    submitted = course.root / "submitted" / record.student / record.assignment
    for name, pattern in EXCHANGE_FILES.items():
        text = _small_text(submitted / name, pattern)
        if text is not None:
            (folder / name).write_text(text)
    return path


def _small_text(path: Path, pattern: re.Pattern[str]) -> str | None:
    """A short text file of the submission, read without following a link, if it
    holds what nbgrader writes there."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        text = handle.read(300).decode("ascii", "replace").strip()
    return text if pattern.fullmatch(text) else None
