"""The demo, end to end: scores, feedback without hidden tests, report, exports.

This is what the README's main command runs, on a scratch copy of the course.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder import notebooks, records
from autograder.course import Course
from autograder.settings import course_db_url
from tests.conftest import ARTIFACTS
from tests.test_report import tables

EXPECTED = {
    "full-marks": ("graded", 24.0, []),
    "blank": ("graded", 0.0, []),
    "partly-wrong": ("graded", 16.0, []),
    # The loop stops the relu cell before `def relu`: relu's 2 points go, and so do
    # mlp_forward's 3, whose `activation=relu` default cannot be evaluated.
    "infinite-loop": ("graded", 19.0, ["timeout: a cell ran past the per-cell limit"]),
    "changed-locked-cell": ("graded", 24.0, ["changed locked cell: test_relu"]),
}


def test_demo_scores_every_example_exactly(demo_run) -> None:
    _, graded, output = demo_run
    for student, (status, score, reasons) in EXPECTED.items():
        record = graded[student]
        assert (record.status, record.score, record.reasons) == (status, score, reasons), student
        assert record.max_score == 24
    assert graded["invalid-json"].status == "error"
    assert "invalid notebook" in graded["invalid-json"].reasons[0]
    assert re.search(r"full-marks\s+Amara Okafor\s+24/24\s+graded", output)
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
    assert len(pages) == 6  # the ungradable submission gets its page too
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


DEMO_STUDENTS = {*EXPECTED, "invalid-json", "absent"}
NEEDS_HELP = {"absent", "invalid-json", "blank", "infinite-loop", "changed-locked-cell"}


def _report_folder(course: Course) -> Path:
    return course.root / "reports" / "forward_pass"


def _items(course: Course) -> list[notebooks.Item]:
    return notebooks.items(notebooks.read(course.source_notebook("forward_pass")))


def _gradebook_matrix(course: Course) -> dict[str, dict[str, str]]:
    """Per demo student and item, the gradebook's score as scores.csv writes it
    ("" where there is no submission or nobody graded the item)."""
    items = _items(course)
    matrix: dict[str, dict[str, str]] = {}
    with Gradebook(course_db_url(course)) as gradebook:
        for student in DEMO_STUDENTS:
            try:
                submission = gradebook.find_submission("forward_pass", student)
            except MissingEntry:
                matrix[student] = {item.name: "" for item in items}
                continue
            grades = {g.name: g for notebook in submission.notebooks for g in notebook.grades}
            matrix[student] = {}
            for item in items:
                found = grades[item.test_id]
                ungraded = found.auto_score is None and found.manual_score is None
                matrix[student][item.name] = "" if ungraded else str(float(found.score))
    return matrix


def test_class_report_roster_is_every_student_with_the_gradebooks_scores(demo_run) -> None:
    demo_course, _, _ = demo_run
    folder = _report_folder(demo_course)
    rows = {row["student"]: row for row in csv.DictReader((folder / "scores.csv").open())}
    assert set(rows) == DEMO_STUDENTS
    assert {student: row["status"] for student, row in rows.items()} == {
        "full-marks": "graded",
        "blank": "graded",
        "partly-wrong": "graded",
        "infinite-loop": "flagged",
        "changed-locked-cell": "flagged",
        "invalid-json": "not gradable",
        "absent": "not submitted",
    }
    assert (rows["full-marks"]["auto_score"], rows["full-marks"]["auto_max"]) == ("24.0", "24.0")
    items = _items(demo_course)
    matrix = _gradebook_matrix(demo_course)
    assert {s: {i.name: row[i.name] for i in items} for s, row in rows.items()} == matrix
    assert matrix["partly-wrong"]["relu"] == "0.0" and matrix["full-marks"]["relu"] == "2.0"

    page = folder / "index.html"
    roster = tables(page)["roster-table"]
    assert roster[0][:2] == ["student", "name"]
    shown = {row[0]: row[4 : 4 + len(items)] for row in roster[1:]}
    assert set(shown) == DEMO_STUDENTS
    assert {row[0]: row[1] for row in roster[1:]}["absent"] == "Sara Haddad (A)"
    for student, cells in shown.items():
        expected = [f"{float(v):g}" if v else "\N{EN DASH}" for v in matrix[student].values()]
        assert cells == expected, student
    help_table = tables(page)["needs-help-table"]
    assert {row[0] for row in help_table[1:]} == NEEDS_HELP
    assert "did not submit" in {row[0]: row[2] for row in help_table[1:]}["absent"]

    text = page.read_text()
    assert text.count('<svg class="hist"') == 1 + len(items)
    roster_html = text[text.index('id="roster-table"') : text.index('id="needs-help"')]
    links = re.findall(r'href="([^"#]+)"', roster_html)
    assert len(links) >= 2 * len(EXPECTED)  # feedback and notebook of each graded example
    for link in links:
        assert (folder / unquote(link)).resolve().is_file(), link
    absent = roster_html[roster_html.index("absent") : roster_html.index("blank")]
    assert "href=" not in absent
    shown_notebook = (folder / "submissions" / "partly-wrong.html").read_text()
    assert "def relu" in shown_notebook
    assert "not a readable notebook" in (folder / "submissions" / "invalid-json.html").read_text()


def test_class_report_groups_failures_by_the_records_messages(demo_run) -> None:
    demo_course, graded, _ = demo_run
    auto = [item for item in _items(demo_course) if not item.manual]
    expected: dict[tuple[str, str], set[str]] = {}
    for record in graded.values():
        if record.status != "graded":
            continue
        for item in auto:
            value = record.items[item.test_id]
            if value["score"] < value["max_score"]:
                message = record.messages.get(item.name) or record.messages.get(item.test_id)
                message = " ".join((message or "no message recorded").split())
                expected.setdefault((item.name, message), set()).add(record.student)
    assert expected, "the demo has submissions that lose points"
    folder = _report_folder(demo_course)
    rows = list(csv.DictReader((folder / "failures.csv").open()))
    found = {(row["item"], row["message"]): set(row["students"].split("; ")) for row in rows}
    assert found == expected
    for row in rows:
        assert int(row["count"]) == len(found[row["item"], row["message"]])
    order = [item.name for item in auto]
    keys = [(order.index(row["item"]), -int(row["count"])) for row in rows]
    assert keys == sorted(keys)
    page = tables(folder / "index.html")["failures-table"][1:]
    assert [row[:3] for row in page] == [[r["item"], r["message"], r["count"]] for r in rows]


def test_class_report_renders_sorts_and_stays_offline_in_chromium(demo_run) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail("chromium is not installed: scripts/setup.sh installs it")
    demo_course, _, _ = demo_run
    folder = _report_folder(demo_course)
    index = demo_course.root / "reports" / "index.html"
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    errors: list[str] = []
    shots = {
        "class-report-desktop": (folder / "index.html", 1280),
        "class-report-phone": (folder / "index.html", 390),
        "class-report-index": (index, 1280),
        "class-report-submission": (folder / "submissions" / "partly-wrong.html", 390),
    }

    def watched(browser, width: int):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    def totals(page) -> list[str]:
        return page.eval_on_selector_all(
            # The columns: student, name (the demo has a roster), total.
            "#roster-table tbody tr",
            "rows => rows.map(r => r.cells[2].dataset.sort)",
        )

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for name, (path, width) in shots.items():
            page = watched(browser, width)
            page.goto(path.as_uri())
            page_width = page.evaluate("document.documentElement.scrollWidth")
            assert page_width <= width, f"{name} is {page_width} px wide, wider than {width}"
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            page.close()

        page = watched(browser, 1280)
        page.goto((folder / "index.html").as_uri())
        before = totals(page)
        page.click("#roster-table thead th:nth-child(3) button")
        ascending = totals(page)
        page.click("#roster-table thead th:nth-child(3) button")
        descending = totals(page)
        browser.close()

    numbers = [float(v) for v in ascending if v]
    assert ascending != before and len(ascending) == len(DEMO_STUDENTS)
    assert numbers == sorted(numbers) and ascending[len(numbers) :] == [""] * 2
    assert [float(v) for v in descending if v] == sorted(numbers, reverse=True)
    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
    assert errors == []
    for name in shots:
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


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
    assert records.GradingRecord(**full).score == 24


def test_the_lms_files_list_the_roster_with_names_and_scores(demo_run) -> None:
    """Canvas's and Moodle's import files: every roster student, the absent one blank."""
    demo_course, _, output = demo_run
    exports = demo_course.root / "exports"
    canvas = list(csv.reader((exports / "canvas_grades.csv").open()))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "forward_pass"]
    assert canvas[1][0] == "Points Possible"
    by_id = {row[2]: row for row in canvas[2:]}
    assert set(by_id) == DEMO_STUDENTS
    assert by_id["full-marks"][:5] == [
        "Okafor, Amara", "2001", "full-marks", "amara.okafor@students.example.edu", "A",
    ]  # fmt: skip
    assert by_id["absent"][5] == "" and by_id["invalid-json"][5] == ""
    assert float(by_id["full-marks"][5]) == 24  # its TA-graded answers await a TA
    moodle = list(csv.DictReader((exports / "moodle_grades.csv").open()))
    assert {row["ID number"]: row["forward_pass"] for row in moodle}["partly-wrong"] == "16"
    assert "canvas_grades.csv" in output and "moodle_grades.csv" in output
