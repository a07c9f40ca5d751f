"""The demo, end to end: scores, feedback without hidden tests, report, exports.

This is what the README's main command runs, on a scratch copy of the course.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pytest

from autograder import notebooks, records
from autograder.course import Course
from tests.conftest import ARTIFACTS

EXPECTED = {
    "full-marks": ("graded", 23.0, []),
    "blank": ("graded", 0.0, []),
    "partly-wrong": ("graded", 15.0, []),
    # The loop stops the relu cell before `def relu`: relu's 2 points go, and so do
    # mlp_forward's 3, whose `activation=relu` default cannot be evaluated.
    "infinite-loop": ("graded", 18.0, ["timeout: a cell ran past the per-cell limit"]),
    "changed-locked-cell": ("graded", 23.0, ["changed locked cell: test_relu"]),
}


def test_demo_scores_every_example_exactly(demo_run) -> None:
    _, graded, output = demo_run
    for student, (status, score, reasons) in EXPECTED.items():
        record = graded[student]
        assert (record.status, record.score, record.reasons) == (status, score, reasons), student
        assert record.max_score == 23
    assert graded["invalid-json"].status == "error"
    assert "invalid notebook" in graded["invalid-json"].reasons[0]
    assert re.search(r"full-marks\s+23/23\s+graded", output)
    assert "class report:" in output and "feedback:" in output


def _hidden_lines(course: Course) -> set[str]:
    """Lines of hidden blocks that appear nowhere else in the source notebook."""
    source = notebooks.read(course.source_notebook("forward_pass"))
    hidden: set[str] = set()
    shown: set[str] = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            else:
                (hidden if inside else shown).add(line.strip())
    return {line for line in hidden - shown if len(line) > 8}


def test_no_hidden_test_line_appears_in_any_feedback(demo_run, course: Course) -> None:
    demo_course, _, _ = demo_run
    pages = sorted((demo_course.root / "feedback").rglob("*.html"))
    assert len(pages) == 5
    hidden = _hidden_lines(course)
    assert len(hidden) > 50
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        shown = {line.strip() for line in text.splitlines()}
        leaked = sorted(hidden & shown)
        assert leaked == [], f"{page} shows hidden test lines: {leaked[:3]}"
    partly = (demo_course.root / "feedback" / "partly-wrong" / "forward_pass").glob("*.html")
    text = html.unescape(next(partly).read_text())
    assert "test_relu" in text and "Test failed (0 of " in text and "Test passed (" in text


def test_class_report_has_plots_flags_and_links(demo_run) -> None:
    demo_course, _, _ = demo_run
    page = demo_course.root / "reports" / "forward_pass" / "index.html"
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 2
    flagged = text[text.index("id='flagged'") : text.index("Slowest")]
    for student in ("infinite-loop", "changed-locked-cell", "invalid-json"):
        assert student in flagged
    assert "full-marks" not in flagged
    for link in re.findall(r'href="([^"]+)"', flagged):
        assert (page.parent / link).resolve().is_file()
    rows = list(csv.DictReader((page.parent / "scores.csv").open()))
    assert {row["student"] for row in rows} == set(EXPECTED) | {"invalid-json"}


def test_class_report_renders_in_chromium(demo_run) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail("chromium is not installed: scripts/setup.sh installs it")
    demo_course, _, _ = demo_run
    page_path = demo_course.root / "reports" / "forward_pass" / "index.html"
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(page_path.as_uri())
        sizes = page.eval_on_selector_all(
            "img", "images => images.map(i => [i.naturalWidth, i.naturalHeight])"
        )
        page.screenshot(path=str(ARTIFACTS / "class-report.png"), full_page=True)
        browser.close()
    assert len(sizes) == 2 and all(w > 200 and h > 100 for w, h in sizes)
    assert (ARTIFACTS / "class-report.png").stat().st_size > 10_000


def test_exports_hold_every_graded_submission(demo_run) -> None:
    demo_course, graded, _ = demo_run
    rows = list(csv.DictReader((demo_course.root / "exports" / "grades.csv").open()))
    assert {row["student_id"] for row in rows} >= set(EXPECTED)
    lines = (demo_course.root / "exports" / "forward_pass.jsonl").read_text().splitlines()
    exported = {json.loads(line)["student"]: json.loads(line) for line in lines}
    assert set(exported) == set(graded)
    full = exported["full-marks"]
    for field in ("items", "reasons", "wall_seconds", "environment", "seed", "tests_sha256"):
        assert field in full
    assert full["items"]["test_relu"] == {"score": 2.0, "max_score": 2.0, "manual": False}
    assert records.GradingRecord(**full).score == 23
