"""The student's feedback page of the demo, read as a student would, in Chromium.

Each page opens with a summary of every item; each test line says the gradebook's
score; a stopped cell is one sentence, not a traceback; an ungradable submission
gets a page that says what was wrong; no page loads anything from the network.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.course import Course
from autograder.settings import course_db_url
from tests.conftest import ARTIFACTS

SHOWN = ("full-marks", "partly-wrong", "infinite-loop")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def _page(course: Course, student: str) -> Path:
    return course.root / "feedback" / student / "forward_pass" / "forward_pass.html"


def _text(page: Path) -> str:
    visible = re.sub(r"(?s)<style.*?</style>", "", page.read_text())
    return html.unescape(re.sub(r"<[^>]+>", "", visible))


def test_every_test_line_and_summary_row_says_the_gradebooks_score(demo_run) -> None:
    demo_course, graded, _ = demo_run
    with Gradebook(course_db_url(demo_course)) as gradebook:
        for student in ("full-marks", "partly-wrong", "infinite-loop", "blank"):
            text = _text(_page(demo_course, student))
            submission = gradebook.find_submission_notebook("forward_pass", "forward_pass", student)
            tests = [g for g in submission.grades if g.name.startswith("test_")]
            assert len(tests) == 12
            for grade in tests:
                score, points = float(grade.score), float(grade.max_score)
                word = "passed" if score >= points else "partly passed" if score else "failed"
                unit = "point" if points == 1 else "points"
                assert f"Test {word} ({score:g} of {points:g} {unit})." in text, (student, grade)
                name = grade.name.removeprefix("test_")
                row = re.search(rf"\n{name}\n+{word}\n+([^\n]+)\n", text)
                assert row and row[1] == f"{score:g} / {points:g}", (student, grade.name)
            auto = graded[student].score
            assert f"Auto-graded: {auto:g} of 24 points" in text
            # nbgrader scores an unanswered free response 0 itself.
            awaiting = "2 points awaiting TA grading" in text
            assert awaiting == (student != "blank"), student


def test_a_stopped_cell_is_one_sentence_and_named_at_the_top(demo_run) -> None:
    demo_course, _, _ = demo_run
    text = _text(_page(demo_course, "infinite-loop"))
    assert "In your answer cell relu: This cell was stopped: it ran past the 20 s" in text
    # The interruption's traceback is gone (later cells keep their own NameErrors).
    assert "KeyboardInterrupt" not in text and "CellTimeoutError" not in text


def test_a_restored_locked_cell_is_said_plainly(demo_run) -> None:
    demo_course, _, _ = demo_run
    text = _text(_page(demo_course, "changed-locked-cell"))
    assert "The cell test_relu may not be changed; it was put back as released" in text


def test_an_ungradable_submission_gets_a_page_saying_why(demo_run) -> None:
    demo_course, _, _ = demo_run
    text = _text(_page(demo_course, "invalid-json"))
    assert "could not be graded" in text
    assert "forward_pass.ipynb is not a notebook Jupyter can read" in text
    assert "How to resubmit" in text


def test_equations_are_mathml_and_student_markdown_is_text(demo_run) -> None:
    demo_course, _, _ = demo_run
    page = _page(demo_course, "full-marks").read_text()
    assert page.count("<math") > 50
    assert "cdnjs" not in page and "<script" not in page


def _screenshots(page_path: Path, name: str) -> list[str]:
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail("chromium is not installed: scripts/setup.sh installs it")
    requested: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        for label, width in (("desktop", 1280), ("phone", 390)):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("networkidle")
            # The summary must fit the phone's width without the page scrolling sideways.
            overflow = page.evaluate("document.querySelector('#summary').scrollWidth")
            assert overflow <= width, (name, label, overflow)
            page.screenshot(path=str(ARTIFACTS / f"feedback-{name}-{label}.png"))
            page.close()
        browser.close()
    return [url for url in requested if not url.startswith(("file:", "data:"))]


@pytest.mark.parametrize("student", SHOWN)
def test_feedback_pages_render_offline_in_chromium(demo_run, student: str) -> None:
    demo_course, _, _ = demo_run
    ARTIFACTS.mkdir(exist_ok=True)
    assert _screenshots(_page(demo_course, student), student) == []
    for label in ("desktop", "phone"):
        shot = ARTIFACTS / f"feedback-{student}-{label}.png"
        assert shot.stat().st_size > 10_000
        if SCREENSHOTS.is_dir():
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
