"""The class report for TAs: one HTML page per assignment, plus a CSV.

Plots are matplotlib PNGs embedded in the page, so the file can be mailed or
opened from disk. Flagged submissions link to their feedback.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import statistics
from pathlib import Path

from autograder import records
from autograder.course import Course
from autograder.errors import CourseError

REPORTS_DIR = "reports"
SLOWEST_SHOWN = 10
# The scores are auto-graded points; TAs grade manual_max more, total_max in all.
CSV_COLUMNS = (
    "student",
    "status",
    "auto_score",
    "auto_max",
    "manual_max",
    "total_max",
    "reasons",
    "wall_seconds",
)


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _pyplot():
    """matplotlib's pyplot on the file-only Agg back end (imported only for reports)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _score_histogram(scores: list[float], max_score: float) -> str:
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()

    figure, axes = plt.subplots(figsize=(6, 3.2))
    bins = max(5, min(20, int(max_score) + 1))
    axes.hist(scores, bins=bins, range=(0, max_score or 1), color="#3b6ea5", edgecolor="white")
    axes.set_xlabel("total auto-graded score")
    axes.set_ylabel("submissions")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Score distribution")
    encoded = _png(figure)
    plt.close(figure)
    return encoded


def _pass_rate_chart(rates: dict[str, float]) -> str:
    plt = _pyplot()

    names = list(rates)
    figure, axes = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    axes.barh(names, [100 * rates[name] for name in names], color="#5a9e6f")
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of graded submissions with full points")
    axes.set_title("Pass rate per item")
    encoded = _png(figure)
    plt.close(figure)
    return encoded


def pass_rates(graded: list[records.GradingRecord]) -> dict[str, float]:
    """Per auto-graded test cell: the share of submissions that got every point."""
    names = list(dict.fromkeys(name for r in graded for name in r.items))
    rates = {}
    for name in names:
        scored = [r.items[name] for r in graded if name in r.items]
        if scored and scored[0]["max_score"] > 0 and not scored[0].get("manual"):
            rates[name] = sum(s["score"] >= s["max_score"] for s in scored) / len(scored)
    return rates


def _feedback_link(course: Course, record: records.GradingRecord, report_dir: Path) -> str:
    folder = course.root / "feedback" / record.student / record.assignment
    pages = sorted(folder.glob("*.html"))
    if not pages:
        return "no feedback"
    target = os.path.relpath(pages[0], report_dir)
    return f'<a href="{html.escape(target)}">feedback</a>'


def write_report(course: Course, assignment: str) -> Path:
    """Write ``reports/<assignment>/index.html`` and ``scores.csv``; returns the page."""
    all_records = records.load_all(course, assignment)
    if not all_records:
        raise CourseError(f"no graded submissions of {assignment}; run `autograder grade` first")
    report_dir = course.root / REPORTS_DIR / assignment
    report_dir.mkdir(parents=True, exist_ok=True)
    graded = [r for r in all_records if r.status == "graded"]
    max_score = max((r.max_score for r in graded), default=0.0)
    scores = [r.score for r in graded]
    flagged = [r for r in all_records if r.flagged]
    slowest = sorted(all_records, key=lambda r: r.wall_seconds, reverse=True)[:SLOWEST_SHOWN]

    _write_csv(report_dir / "scores.csv", all_records)
    summary = (
        f"{len(all_records)} submissions, {len(graded)} graded, "
        f"{len(all_records) - len(graded)} not gradable, {len(flagged)} flagged"
    )
    manual = max((r.manual_points for r in all_records), default=0.0)
    if scores:
        summary += (
            f"; mean {statistics.mean(scores):.1f}, median {statistics.median(scores):.1f} "
            f"of {max_score:g} auto-graded points"
        )
    if manual:
        summary += (
            f"; TAs grade {manual:g} more points, {max_score + manual:g} in all "
            "(the maximum in exports/grades.csv)"
        )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(assignment)}: class report</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:left}th{background:#f0f0f0}img{max-width:100%}"
        ".plots{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>",
        f"<h1>{html.escape(assignment)}: class report</h1>",
        f"<p id='summary'>{html.escape(summary)}</p>",
        "<div class='plots'>",
    ]
    if scores:
        parts.append(
            f"<img id='histogram' alt='score histogram' "
            f"src='data:image/png;base64,{_score_histogram(scores, max_score)}'>"
        )
        rates = pass_rates(graded)
        if rates:
            parts.append(
                f"<img id='pass-rates' alt='pass rate per item' "
                f"src='data:image/png;base64,{_pass_rate_chart(rates)}'>"
            )
    parts.append("</div><h2>Flagged submissions</h2>")
    parts.append(_flagged_table(course, flagged, report_dir))
    parts.append("<h2>Slowest submissions</h2>")
    parts.append(
        _table(
            ("student", "wall time (s)", "score"),
            [(r.student, f"{r.wall_seconds:.1f}", _score_text(r)) for r in slowest],
            "slowest",
        )
    )
    parts.append("</body></html>")
    page = report_dir / "index.html"
    page.write_text("\n".join(parts))
    return page


def _score_text(record: records.GradingRecord) -> str:
    return f"{record.score:g}/{record.max_score:g}" if record.status == "graded" else "error"


def _flagged_table(course: Course, flagged: list[records.GradingRecord], report_dir: Path) -> str:
    if not flagged:
        return "<p>None.</p>"
    rows = [
        (
            html.escape(r.student),
            _score_text(r),
            html.escape("; ".join(r.reasons) or (r.error or "").splitlines()[-1:][0]),
            _feedback_link(course, r, report_dir),
        )
        for r in flagged
    ]
    return _table(("student", "score", "reasons", "feedback"), rows, "flagged", escape=False)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], id_: str, escape=True) -> str:
    def cell(value: str) -> str:
        return html.escape(value) if escape else value

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table id='{id_}'><tr>{head}</tr>{body}</table>"


def _write_csv(path: Path, all_records: list[records.GradingRecord]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in all_records:
            total = r.max_score + r.manual_points
            scores = [r.score, r.max_score, r.manual_points, total]
            writer.writerow([r.student, r.status, *scores, "; ".join(r.reasons), r.wall_seconds])
