"""The class report for TAs: a page per assignment, an index over all of them, CSVs.

``reports/<assignment>/index.html`` holds the roster (every student of the course,
with per-item scores from the gradebook), who needs help, the items, why students
fail and the progress of manual grading; ``reports/<assignment>/submissions/`` the
submitted notebooks shown as inert text; ``scores.csv`` and ``failures.csv`` the
same data for machines; ``reports/index.html`` every assignment over time.

The data come from :mod:`autograder.report_data`; the Jinja2 templates in
``autograder/templates/report/`` only render them, with autoescaping on. Pages load
nothing: styles and the one sorting script are inline, plots are inline SVG, and a
Content-Security-Policy allows only that script, by its hash.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import os
import re
import secrets
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from autograder import records, report_data, report_submissions
from autograder.course import Course
from autograder.errors import CourseError
from autograder.report_data import (
    HELP_BELOW,
    ITEM_BINS,
    NO_MESSAGE,
    REPORTS_DIR,
    SCORE_BINS,
    SUBMISSIONS_DIR,
    AssignmentReport,
)
from autograder.spreadsheet import text_cell

TEMPLATES = Path(__file__).resolve().parent / "templates" / "report"
CSV_COLUMNS = (
    "student",
    "name",
    "section",
    "status",
    "auto_score",
    "auto_max",
    "manual_score",
    "manual_max",
    "late_penalty",
    "total",
    "total_max",
    "lateness",
    "reasons",
    "wall_seconds",
)
FAILURE_COLUMNS = ("item", "message", "count", "students")
_KEY_META = re.compile(rb'<meta name="autograder-source-key" content="([^"]*)">')

__all__ = ["CSV_COLUMNS", "FAILURE_COLUMNS", "HELP_BELOW", "write_index", "write_report"]


def _num(value: float | None) -> str:
    """A score as people write it: 2, 1.5, 0.33; nothing for None."""
    return "" if value is None else f"{round(float(value), 2):g}"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    return env


@functools.cache
def _script() -> tuple[Markup, str]:
    """The pages' one inline script, and the CSP hash of exactly that text."""
    text = (TEMPLATES / "sort.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return Markup(text), digest


@functools.cache
def _templates_key() -> str:
    """Changes with any template, so cached submission pages follow template edits."""
    digest = hashlib.sha256()
    for path in sorted(TEMPLATES.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def render(template: str, script: bool = False, **context: object) -> str:
    """A page from ``template``; with ``script``, the sorting script and its CSP hash."""
    text, digest = _script() if script else ("", "")
    return environment().get_template(template).render(script=text, script_sha256=digest, **context)


def write_page(path: Path, text: str) -> None:
    """Write through a temporary file, so a reader never sees half a page and a link
    planted at ``path`` is replaced, not written through."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    handle = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="replace", newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report(course: Course, assignment: str, help_below: float = HELP_BELOW) -> Path:
    """Write ``reports/<assignment>/`` (page, submissions, CSVs) and ``reports/index.html``;
    returns the assignment's page."""
    if not 0 <= help_below <= 1:
        raise CourseError(f"help_below is a fraction of the points, 0 to 1, not {help_below}")
    found = records.load_all(course, assignment)
    if not found:
        raise CourseError(f"no graded submissions of {assignment}; run `autograder grade` first")
    report_dir = course.root / REPORTS_DIR / assignment
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_data.assignment_report(course, assignment, help_below, found)
    write_submission_pages(course, report, report_dir)
    write_scores_csv(report_dir / "scores.csv", report)
    write_failures_csv(report_dir / "failures.csv", report)
    page = report_dir / "index.html"
    write_page(
        page,
        render(
            "assignment.html.j2",
            script=True,
            report=report,
            score_bins=SCORE_BINS,
            item_bins=ITEM_BINS,
            no_message=NO_MESSAGE,
        ),
    )
    write_index(course, {assignment: report})
    return page


def write_index(course: Course, known: dict[str, AssignmentReport] | None = None) -> Path:
    """``reports/index.html``: every assignment with records, and each student over time."""
    overview = report_data.course_overview(course, known)
    reports = course.root / REPORTS_DIR
    linked = {
        trend.assignment
        for trend in overview.assignments
        if (reports / trend.assignment / "index.html").is_file()
    }
    page = reports / "index.html"
    write_page(page, render("index.html.j2", script=True, overview=overview, linked=linked))
    return page


def write_submission_pages(course: Course, report: AssignmentReport, report_dir: Path) -> None:
    """``submissions/<student>.html`` for every submission folder, each made again only
    when the folder's notebooks changed (or the templates did); sets the rows' links."""
    submitted = course.root / "submitted"
    folder = report_dir / SUBMISSIONS_DIR
    for row in report.rows:
        if not row.submitted or not report_data.safe_name(row.student):
            continue
        name = f"{row.student}.html"
        page = folder / name
        try:
            key = (
                _templates_key()
                + "-"
                + report_submissions.submission_key(submitted, row.student, report.assignment)
            )
            if _page_key(page) != key:
                submission = report_submissions.read_submission(
                    submitted, row.student, report.assignment
                )
                write_page(
                    page,
                    render(
                        "submission.html.j2",
                        key=key,
                        student=row.student,
                        assignment=report.assignment,
                        submission=submission,
                    ),
                )
        except OSError:
            continue
        row.submission_link = report_data.href(SUBMISSIONS_DIR, name)


def _page_key(page: Path) -> str | None:
    """The source key a submission page was made from (None: no such page)."""
    try:
        with page.open("rb") as handle:
            head = handle.read(2048)
    except OSError:
        return None
    found = _KEY_META.search(head)
    return found[1].decode() if found else None


def _csv_number(value: float | None) -> str | float:
    return "" if value is None else value


def score_columns(report: AssignmentReport) -> list[str]:
    """scores.csv's header: the fixed columns, then one per item (prefixed with ``item:``
    where an item's name is one of the fixed columns)."""
    return [
        *CSV_COLUMNS,
        *(f"item:{item.name}" if item.name in CSV_COLUMNS else item.name for item in report.items),
    ]


def write_scores_csv(path: Path, report: AssignmentReport) -> None:
    """One row per student of the roster; item scores empty where not graded."""
    with path.open("w", newline="", encoding="utf-8", errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow(score_columns(report))
        for row in report.rows:
            items = [row.scores[item.name] for item in report.items]
            writer.writerow(
                [
                    text_cell(row.student),
                    text_cell(row.name),
                    text_cell(row.section),
                    row.status,
                    _csv_number(row.auto_score),
                    report.auto_max,
                    _csv_number(row.manual_score),
                    report.manual_max,
                    _csv_number(row.late_penalty if row.lateness else None),
                    _csv_number(row.total),
                    report.total_max,
                    text_cell(row.lateness.describe() if row.lateness else ""),
                    text_cell("; ".join(row.reasons)),
                    _csv_number(row.wall_seconds),
                    *(_csv_number(grade.score if grade else None) for grade in items),
                ]
            )


def write_failures_csv(path: Path, report: AssignmentReport) -> None:
    """One row per (auto-graded item, failure message): how many students, and who."""
    with path.open("w", newline="", encoding="utf-8", errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow(FAILURE_COLUMNS)
        for group in report.failures:
            students = text_cell("; ".join(group.students))
            writer.writerow([group.item, text_cell(group.message), len(group.rows), students])
