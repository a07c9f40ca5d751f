"""The roster file, and the upload of grades to Canvas (against a local fake Canvas).

No Canvas runs here: the fake answers the three calls ``canvasapi`` makes for a bulk
grade update (the course, the assignment, update_grades) as Canvas's REST API
documents them, and keeps what it was sent.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl

import pytest
from nbgrader.api import Gradebook

from autograder import canvas_upload, lms_export, roster
from autograder.course import Course
from autograder.errors import CourseError
from autograder.lms_export import ClassGrades, SubmissionGrade
from autograder.settings import course_db_url

REPO = Path(__file__).resolve().parents[1]
ROSTER = (
    "\ufeffstudent_id,first_name,last_name,email,lms_id,section\n"
    "ann,Ann,Archer,ann@uni.example,1001,A\n"
    "\n"
    "ben,Ben,Brook,ben@uni.example,1002,B\n"
    "finn,Finn,Frost,,,B\n"
)
TOKEN = "secret-token"


@pytest.fixture
def course(tmp_path: Path, blank_gradebook: Path) -> Course:
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copy(blank_gradebook, root / "gradebook.db")
    return Course(root)


def test_a_roster_loads_names_emails_and_lms_ids_into_the_gradebook(course: Course, tmp_path: Path):
    with Gradebook(course_db_url(course)) as gradebook:
        gradebook.add_student("zoe")  # graded before the roster came
    path = tmp_path / "from-the-registrar.csv"
    path.write_text(ROSTER, encoding="utf-8")
    students, missing = roster.load(course, path)
    assert [s.student_id for s in students] == ["ann", "ben", "finn"]
    assert missing == ["zoe"]
    with Gradebook(course_db_url(course)) as gradebook:
        ann = gradebook.find_student("ann")
        assert (ann.first_name, ann.last_name, ann.email, ann.lms_user_id) == (
            "Ann", "Archer", "ann@uni.example", "1001",
        )  # fmt: skip
        assert gradebook.find_student("finn").email is None
    assert students[0].sortable_name == "Archer, Ann" and students[1].section == "B"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,name\nann,Ann\n", "whose header names student_id"),
        ("student_id\nann\nann\n", "line 3: ann is in the roster twice"),
        ("student_id\n../etc\n", "line 2: '../etc' cannot be a student id"),
        ("student_id,email\nann,not-an-address\n", "line 2: 'not-an-address' is not an email"),
        (b"student_id\n\xff\xfe\n", "cannot read the roster"),
    ],
)
def test_a_broken_roster_is_refused_with_the_line_that_breaks_it(
    tmp_path: Path, text: str | bytes, message: str
):
    path = tmp_path / "roster.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(CourseError, match=message):
        roster.read(path)


class FakeCanvas(BaseHTTPRequestHandler):
    """Canvas's course, assignment and update_grades calls; keeps what it was sent."""

    posted: ClassVar[list[dict[str, str]]] = []
    assignments: ClassVar[dict[str, str]] = {"4711": "tiny"}

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._reply(401, {"errors": [{"message": "Invalid access token."}]})
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:3] == ["api", "v1", "courses"] and len(parts) == 4:
            self._reply(200, {"id": int(parts[3]), "name": "Intro DL"})
        elif len(parts) == 6 and parts[4] == "assignments" and parts[5] in self.assignments:
            self._reply(200, {"id": int(parts[5]), "course_id": int(parts[3]), "name": "tiny"})
        else:
            self._reply(404, {"errors": [{"message": "The specified resource does not exist."}]})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        length = int(self.headers.get("Content-Length", 0))
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        if not self.path.endswith("/submissions/update_grades"):
            self._reply(404, {"errors": [{"message": "no such call"}]})
            return
        FakeCanvas.posted.append({"path": self.path, **form})
        self._reply(200, {"id": 1, "workflow_state": "queued", "url": "/api/v1/progress/1"})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_canvas() -> Iterator[str]:
    FakeCanvas.posted = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCanvas)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _grades() -> ClassGrades:
    students = [roster.Student(*row) for row in (
        ("ann", "Ann", "Archer", "", "1001"),
        ("ben", "Ben", "Brook", "", "1002"),
        ("cara", "Cara", "Cole", "", ""),  # no LMS id
        ("finn", "Finn", "Frost", "", "1006"),  # no submission
    )]  # fmt: skip
    return ClassGrades(
        assignments=["tiny", "backprop"],
        max_scores={"tiny": 6.0, "backprop": 8.0},
        students=students,
        grades={
            ("tiny", "ann"): SubmissionGrade(raw=6.0, penalty=0.0, awaiting_manual=False),
            ("tiny", "ben"): SubmissionGrade(raw=5.0, penalty=2.5, awaiting_manual=True),
            ("tiny", "cara"): SubmissionGrade(raw=4.0, penalty=0.0, awaiting_manual=False),
        },
    )


def _configure(course: Course, url: str) -> None:
    with course.config_file.open("a") as config:
        config.write(
            f"\nc.CanvasUpload.url = {url!r}\nc.CanvasUpload.course_id = 7\n"
            "c.CanvasUpload.assignment_ids = {'tiny': 4711}\n"
        )


def test_grades_are_posted_to_canvas_by_lms_id(
    course: Course, fake_canvas: str, monkeypatch: pytest.MonkeyPatch
):
    _configure(course, fake_canvas)
    monkeypatch.setenv("CANVAS_API_TOKEN", TOKEN)
    done = canvas_upload.upload(course, _grades())
    assert FakeCanvas.posted == [
        {
            "path": "/api/v1/courses/7/assignments/4711/submissions/update_grades",
            "grade_data[1001][posted_grade]": "6",
            "grade_data[1002][posted_grade]": "2.5",
        }
    ]
    assert done.scores == {"tiny": 2}
    assert done.notes == [
        "no lms_id in the roster, not uploaded: cara",
        "backprop: no c.CanvasUpload.assignment_ids entry, skipped",
    ]


def test_a_canvas_that_refuses_or_is_not_configured_is_a_clear_error(
    course: Course, fake_canvas: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("CANVAS_API_TOKEN", raising=False)
    with pytest.raises(CourseError, match=r"set c.CanvasUpload.url"):
        canvas_upload.upload(course, _grades())
    _configure(course, fake_canvas)
    with pytest.raises(CourseError, match=r"token in the environment variable CANVAS_API_TOKEN"):
        canvas_upload.upload(course, _grades())
    monkeypatch.setenv("CANVAS_API_TOKEN", "wrong")
    with pytest.raises(CourseError, match=r"refused the upload: .*Invalid access token"):
        canvas_upload.upload(course, _grades())
    assert FakeCanvas.posted == []


def test_lms_files_keep_a_name_shaped_like_a_formula_as_text(tmp_path: Path):
    """A display name a student set in the LMS never runs in the instructor's spreadsheet."""
    grades = _grades()
    grades.students[0] = roster.Student("ann", '=HYPERLINK("x")', "Archer", "", "1001")
    canvas = lms_export.write_canvas(grades, tmp_path / "canvas.csv", {})
    moodle = lms_export.write_moodle(grades, tmp_path / "moodle.csv", {})
    assert canvas.read_text().splitlines()[2] == '"Archer, =HYPERLINK(""x"")",1001,ann,,,6,'
    assert moodle.read_text().splitlines()[1] == '"\'=HYPERLINK(""x"")",Archer,ann,,6,'
    items = lms_export.write_items(grades, tmp_path / "items.csv").read_text().splitlines()
    assert "ben,Ben,Brook,,tiny,late penalty,penalty,-2.5,,graded" in items
