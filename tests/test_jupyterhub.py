"""The course on JupyterHub, end to end, in a real browser (Debian's chromium).

The deployment's own command (``deploy/course_hub.py``) starts the hub on 127.0.0.1
for a temporary copy of the course; real Unix accounts log in through PAM. The
instructor generates and releases ``forward_pass`` in formgrader; two students
fetch it from the Assignments tab, validate and submit (one right, one with a wrong
``relu``); the instructor collects and grades with ``autograder`` in the sandbox; a
TA scores the free response in formgrader; the feedback goes back through the
exchange and the first student reads it; the grades are exported. Then: students
can read neither each other's work nor the course. Screenshots of every step go to
``artifacts/jupyterhub/``.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest
from hub_harness import (
    ASSIGNMENT,
    REPO,
    Account,
    CourseHub,
    course_hub,
    folders_hiding_python,
    open_course_hub,
)
from nbgrader.utils import notebook_hash
from playwright.sync_api import Browser, Page, expect, sync_playwright

from autograder import notebooks
from autograder.course import Course
from autograder.fixtures import solution_sources

SCREENSHOTS = REPO / "artifacts" / "jupyterhub"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROLES = {"instructor": "instructors", "ta": "tas", "alice": "students", "bob": "students"}
STUDENTS = ("alice", "bob")
FREE_RESPONSE = "why_nonlinearity"
WRONG_ITEM = "relu"
WRONG_ANSWER = "mistake-absolute-value.py"
NEEDS_MANUAL_GRADE = re.compile(r"\bneeds_manual_grade\b")
STEP_TIMEOUT_MS = 60_000
SPAWN_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates Unix accounts: runs as root"),
    pytest.mark.skipif(
        importlib.util.find_spec("jupyterhub") is None, reason="jupyterhub is not installed"
    ),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(
        not course_hub.PROXY_BIN.exists() and shutil.which("npm") is None,
        reason="configurable-http-proxy is not installed and there is no npm (Node.js 20+)",
    ),
    pytest.mark.skipif(
        shutil.which("setfacl") is None and bool(folders_hiding_python()),
        reason="this Python is in a folder other accounts cannot search: needs setfacl (acl)",
    ),
]


@dataclass(frozen=True)
class RoundTrip:
    """What the scenario saw, for the tests to check."""

    validation: dict[str, str]
    auto_scores: dict[str, float]
    feedback_text: str
    grades: dict[str, float]
    statuses: dict[str, int]


@pytest.fixture(scope="module")
def hub() -> Iterator[CourseHub]:
    running = open_course_hub(ROLES)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def log_in(browser: Browser, hub: CourseHub, account: Account, next_path: str) -> Page:
    """A new browser session of ``account``, logged in through the hub's form."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login?next={quote(next_path)}")
    page.fill("#username_input", account.name)
    page.fill("#password_input", account.password)
    page.click("#login_submit")
    return page


def hub_api_status(page: Page, hub: CourseHub) -> int:
    """Listing the hub's users: the instructor role may, the others may not."""
    return page.request.get(f"{hub.url}/hub/api/users").status


def close_modal(page: Page, expected: str) -> None:
    modal = page.locator("#success-modal")
    expect(modal).to_contain_text(expected)
    modal.locator(".modal-footer button").click()
    expect(modal).to_have_count(0)


def release_from_formgrader(browser: Browser, hub: CourseHub) -> int:
    """The instructor generates the student version and releases it to the exchange."""
    path = f"/services/{hub.course.course_id}/formgrader/manage_assignments"
    page = log_in(browser, hub, hub.people["instructor"], path)
    row = page.locator("tr", has=page.locator("td.name", has_text=ASSIGNMENT))
    row.locator("td.assign a").click()
    close_modal(page, "Successfully created the student version")
    row.locator("td.release a").click()
    close_modal(page, "Successfully released")
    expect(row.locator("td.status")).to_have_text("released")
    shoot(page, "01-instructor-releases")
    status = hub_api_status(page, hub)
    page.context.close()
    return status


def open_assignment_list(page: Page) -> None:
    page.wait_for_selector("#jp-main-dock-panel", timeout=SPAWN_TIMEOUT_MS)
    page.get_by_text("Nbgrader", exact=True).click()
    page.get_by_text("Assignment List", exact=True).click()


def write_answers(page: Page, hub: CourseHub, account: Account, answers: dict[str, str]) -> None:
    """Fill the fetched notebook's cells through the student's own contents API."""
    url = f"{hub.url}/user/{account.name}/api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    fetched = nbformat.from_dict(page.request.get(url).json()["content"])
    body = {"type": "notebook", "format": "json"}
    body["content"] = notebooks.with_replaced_cells(fetched, answers)
    xsrf = next(
        cookie["value"]
        for cookie in page.context.cookies(f"{hub.url}/user/{account.name}/")
        if cookie["name"] == "_xsrf"
    )
    response = page.request.put(
        url,
        data=json.dumps(body),
        headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
    )
    assert response.ok, response.text()


def fetch_validate_submit(page: Page, hub: CourseHub, student: str, answers: dict[str, str]) -> str:
    """A student's round in the Assignments tab; returns the validation outcome."""
    open_assignment_list(page)
    released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
    expect(released).to_be_visible()
    shoot(page, f"02-{student}-assignment-list")
    released.get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list")
    expect(fetched.locator(".assignment-notebooks-link")).to_be_visible()
    write_answers(page, hub, hub.people[student], answers)
    fetched.locator(".assignment-notebooks-link").click()
    fetched.get_by_role("button", name="Validate").click()
    message = page.locator("#validation-message")
    expect(message).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    outcome = next(c for c in message.get_attribute("class").split() if c.startswith("valid"))
    shoot(page, f"03-{student}-validates")
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    fetched.get_by_role("button", name="Submit").click()
    expect(page.locator("#submitted_assignments_list .list_item").first).to_be_visible()
    shoot(page, f"04-{student}-submitted")
    return outcome


def show_names(page: Page, rows: int) -> None:
    """formgrader lists submissions anonymously; the button names the loaded rows."""
    expect(page.locator("td.name a.name-hidden")).to_have_count(rows)
    page.get_by_role("button", name="Show All Names").click()


def score_free_response(browser: Browser, hub: CourseHub, student: Account) -> int:
    """The TA grades the free response of ``student`` in formgrader's manual grading."""
    gradebook = f"/services/{hub.course.course_id}/formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}"
    page = log_in(browser, hub, hub.people["ta"], gradebook)
    show_names(page, len(STUDENTS))
    page.locator("td.name a.name-shown", has_text=student.name).click()
    score = page.locator(f"input.score#{FREE_RESPONSE}")
    expect(score).to_have_class(NEEDS_MANUAL_GRADE)
    with page.expect_response(lambda response: "/formgrader/api/grade/" in response.url) as saved:
        score.fill(f"{item_points()[FREE_RESPONSE]:g}")
        score.press("Tab")
    assert saved.value.ok
    expect(score).not_to_have_class(NEEDS_MANUAL_GRADE)
    shoot(page, "05-ta-scores-free-response")
    page.goto(f"{hub.url}{gradebook}")
    show_names(page, len(STUDENTS))
    row = page.locator("tr", has=page.locator("a.name-shown", has_text=student.name))
    total = sum(item_points().values())
    expect(row.locator("td.score")).to_have_text(f"{total:g} / {total:g}")
    shoot(page, "06-ta-gradebook")
    status = hub_api_status(page, hub)
    page.context.close()
    return status


def read_feedback(page: Page, hub: CourseHub, account: Account) -> str:
    """The student fetches the released feedback and opens it; returns its text."""
    page.locator("#refresh_assignments_list").click()
    submitted = page.locator("#submitted_assignments_list")
    expect(submitted).to_contain_text("feedback available to fetch")
    submitted.get_by_role("button", name="Fetch Feedback").click()
    expect(submitted.get_by_text("(view feedback)")).to_be_visible()
    shoot(page, "07-alice-fetches-feedback")
    listing = f"{hub.url}/user/{account.name}/api/contents/{ASSIGNMENT}/feedback"
    (submission,) = page.request.get(listing).json()["content"]
    page.goto(f"{hub.url}/user/{account.name}/files/{submission['path']}/{ASSIGNMENT}.html")
    expect(page.get_by_text(f"{ASSIGNMENT}: feedback for {account.name}")).to_be_visible()
    shoot(page, "08-alice-reads-feedback")
    return page.inner_text("body")


def student_refusals(
    page: Page, hub: CourseHub, student: Account, other: Account
) -> dict[str, int]:
    """What a student gets from the course service, formgrader, another's files, the hub."""
    service = page.goto(f"{hub.url}/services/{hub.course.course_id}/formgrader")
    shoot(page, "09-alice-refused-course-service")
    formgrader = page.request.get(f"{hub.url}/user/{student.name}/formgrader")
    contents = page.request.get(f"{hub.url}/user/{other.name}/api/contents/{ASSIGNMENT}")
    return {
        "student: course service": service.status,
        "student: formgrader in own server": formgrader.status,
        "student: other student's files": contents.status,
        "student: hub users": hub_api_status(page, hub),
    }


def exported_grades(hub: CourseHub) -> dict[str, float]:
    hub.as_instructor(["autograder", "export", ASSIGNMENT, "--course", str(hub.course.root)])
    with (hub.course.root / "exports" / "grades.csv").open() as table:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(table)}


def auto_score(hub: CourseHub, account: Account) -> float:
    record = hub.course.root / "grading" / ASSIGNMENT / f"{account.name}.json"
    return float(json.loads(record.read_text())["score"])


def source_notebook() -> nbformat.NotebookNode:
    return notebooks.read(Course(REPO).source_notebook(ASSIGNMENT))


def item_points() -> dict[str, float]:
    return {item.name: item.points for item in notebooks.items(source_notebook())}


def expected_scores() -> tuple[dict[str, float], dict[str, float]]:
    """Auto-graded and final scores: Bob loses ``relu``; the TA gives Alice full marks."""
    points = item_points()
    auto = sum(points.values()) - points[FREE_RESPONSE]
    auto_scores = {"alice": auto, "bob": auto - points[WRONG_ITEM]}
    return auto_scores, auto_scores | {"alice": auto + points[FREE_RESPONSE]}


def student_answers() -> dict[str, dict[str, str]]:
    """Alice writes the model solution; Bob the same with a wrong ``relu``."""
    solution = solution_sources(source_notebook())
    wrong = (Course(REPO).fixtures_dir / ASSIGNMENT / WRONG_ITEM / WRONG_ANSWER).read_text()
    return {"alice": solution, "bob": solution | {WRONG_ITEM: wrong}}


def run_round_trip(hub: CourseHub, browser: Browser) -> RoundTrip:
    statuses = {"instructor: hub users": release_from_formgrader(browser, hub)}
    pages = {
        student: log_in(browser, hub, hub.people[student], "/hub/spawn") for student in STUDENTS
    }
    answers = student_answers()
    validation = {
        student: fetch_validate_submit(pages[student], hub, student, answers[student])
        for student in STUDENTS
    }
    course = ["--course", str(hub.course.root)]
    hub.as_instructor(["autograder", "collect", ASSIGNMENT, *course])
    graded = hub.as_instructor(["autograder", "grade", ASSIGNMENT, "--backend", "sandbox", *course])
    assert "back end: sandbox" in graded
    alice, bob = (hub.people[student] for student in STUDENTS)
    statuses["ta: hub users"] = score_free_response(browser, hub, alice)
    hub.as_instructor(["autograder", "feedback", ASSIGNMENT, "--release", *course])
    feedback_text = read_feedback(pages["alice"], hub, alice)
    statuses |= student_refusals(pages["alice"], hub, alice, bob)
    exported = exported_grades(hub)
    return RoundTrip(
        validation=validation,
        auto_scores={student: auto_score(hub, hub.people[student]) for student in STUDENTS},
        feedback_text=feedback_text,
        grades={student: exported[hub.people[student].name] for student in STUDENTS},
        statuses=statuses,
    )


@pytest.fixture(scope="module")
def round_trip(hub: CourseHub, browser: Browser) -> RoundTrip:
    try:
        return run_round_trip(hub, browser)
    except Exception:
        for index, page in enumerate(p for c in browser.contexts for p in c.pages):
            shoot(page, f"failed-{index}")
        print(hub.log_tail(), file=sys.stderr)
        raise


def test_validate_gives_what_grading_gives(round_trip: RoundTrip) -> None:
    assert round_trip.validation == {"alice": "validation-success", "bob": "validation-failed"}
    assert round_trip.auto_scores == expected_scores()[0]


def test_student_reads_her_score_and_no_hidden_test(round_trip: RoundTrip) -> None:
    text = round_trip.feedback_text
    points = item_points()
    auto, manual = expected_scores()[0]["alice"], points[FREE_RESPONSE]
    unit = "point" if manual == 1 else "points"
    assert f"Auto-graded: {auto:g} of {auto:g} points" in text
    assert f"TA-graded: {manual:g} of {manual:g} {unit}." in text
    hidden = hidden_test_lines(source_notebook())
    assert hidden
    assert "HIDDEN TESTS" not in text
    assert sorted(line for line in hidden if line in text) == []


def test_exported_grades_hold_both_students(round_trip: RoundTrip) -> None:
    assert round_trip.grades == expected_scores()[1]


def test_roles(round_trip: RoundTrip) -> None:
    assert round_trip.statuses == {
        "instructor: hub users": 200,
        "ta: hub users": 403,
        "student: course service": 403,
        "student: formgrader in own server": 404,
        "student: other student's files": 403,
        "student: hub users": 403,
    }


def test_students_cannot_read_each_others_work(hub: CourseHub, round_trip: RoundTrip) -> None:
    """As Alice's Unix account, on the paths of Bob's submission and feedback."""
    exchange = hub.course.exchange_root / hub.course.course_id
    (bob_submission,) = (exchange / "inbound").glob(f"{hub.people['bob'].name}+{ASSIGNMENT}+*")
    probes = {
        "inbound listing": exchange / "inbound",
        "bob's submission": bob_submission / f"{ASSIGNMENT}.ipynb",
        "bob's submission secret": bob_submission / "submission_secret.txt",
        "feedback listing": exchange / "feedback",
        "bob's feedback": released_feedback(hub, "bob"),
        "bob's home": hub.people["bob"].home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
        "course source": hub.course.root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
        "alice's own feedback": released_feedback(hub, "alice"),
        "released assignment": exchange / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
    }
    seen = try_reading(hub.people["alice"], probes)
    readable = {"alice's own feedback", "released assignment"}
    assert seen == {label: label in readable for label in probes}


def released_feedback(hub: CourseHub, student: str) -> Path:
    """Where nbgrader released ``student``'s feedback: a hash of the submission's secret."""
    submitted = hub.course.root / "submitted" / hub.people[student].name / ASSIGNMENT
    secret = (submitted / "submission_secret.txt").read_text()
    name = notebook_hash(secret=secret, notebook_id=ASSIGNMENT)
    return hub.course.exchange_root / hub.course.course_id / "feedback" / f"{name}.html"


TRY_READING = """
import json, os, sys
seen = {}
for label, path in json.loads(sys.argv[1]).items():
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
        seen[label] = True
    except PermissionError:
        seen[label] = False
print(json.dumps(seen))
"""


def try_reading(account: Account, paths: dict[str, Path]) -> dict[str, bool]:
    """Which of ``paths`` the account can list or read."""
    argv = [sys.executable, "-c", TRY_READING, json.dumps({k: str(v) for k, v in paths.items()})]
    result = account.run(argv, cwd="/", check=True)
    return json.loads(result.stdout)


def hidden_test_lines(source: nbformat.NotebookNode) -> set[str]:
    """Lines that the source notebook has only inside hidden-test blocks."""
    hidden: set[str] = set()
    shown: set[str] = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped == notebooks.HIDDEN_TESTS_MARKER:
                inside = True
            elif stripped == "### END HIDDEN TESTS":
                inside = False
            else:
                (hidden if inside else shown).add(stripped)
    return {line for line in hidden - shown if len(line) >= 20 and not line.startswith("#")}
