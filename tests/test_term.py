"""A term of a course, end to end: roster, Canvas download, deadlines, grades out.

Six students of a roster; five hand in through a Canvas bulk download whose file times
are their submission times: on time, on time but wrong, late within an extension, late
by two days, and past the hard deadline; the sixth never submits. Everything runs
through the ``autograder`` command: the penalties must land in the gradebook, the
feedback, the report and the export, and the Canvas and Moodle files must equal the
hand-written ones in ``tests/fixtures/term/``.
"""

from __future__ import annotations

import csv
import html
import re
import zipfile
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbgrader.api import Gradebook

from autograder import notebooks
from autograder.cli import main
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse
from autograder.settings import course_db_url

EXPECTED = Path(__file__).parent / "fixtures" / "term"
RELU = "def relu(z):\n    return np.maximum(0, z)"
RIGHT = {"relu": RELU, "double": "def double(x):\n    return 2 * x"}
WRONG_DOUBLE = {
    "relu": RELU,
    "double": "def double(x):\n    return x + 2",
    "explain": "ReLU keeps the positive part.",  # an answer: it waits for a TA
}
ROSTER = """student_id,first_name,last_name,email,lms_id,section
ann,Ann,Archer,ann@uni.example,1001,A
ben,Ben,Brook,ben@uni.example,1002,B
cara,Cara,Cole,cara@uni.example,1003,A
dan,Dan,Dunn,dan@uni.example,1004,B
eve,Eve,Ebert,eve@uni.example,1005,A
finn,Finn,Frost,finn@uni.example,1006,B
"""
TERM_CONFIG = """
c.Deadlines.due = {"tiny": "2026-10-07 23:59 Europe/Berlin"}
c.Deadlines.extensions = {"tiny": {"cara": "2 days"}}
c.LatePolicy.per = "day"
c.LatePolicy.fraction = 0.2
c.LatePolicy.cap = 0.5
c.LatePolicy.hard_deadline = "3 days"
c.LmsExport.canvas_columns = {"tiny": "Tiny assignment (4711)"}
"""
# Canvas's file names and times (Berlin, as the download is read with --timezone).
HANDED_IN = {
    "archerann_1001_501_tiny.ipynb": ((2026, 10, 7, 22, 0, 0), RIGHT),
    "brookben_1002_502_tiny.ipynb": ((2026, 10, 7, 23, 30, 0), WRONG_DOUBLE),
    "colecara_LATE_1003_503_tiny.ipynb": ((2026, 10, 9, 12, 0, 0), RIGHT),
    "dunndan_LATE_1004_504_tiny.ipynb": ((2026, 10, 9, 22, 0, 0), RIGHT),
    "eberteve_LATE_1005_505_tiny.ipynb": ((2026, 10, 11, 9, 0, 0), RIGHT),
}


def _run(course: Course, *arguments: str) -> str:
    result = CliRunner().invoke(main, [*arguments, "--course", str(course.root)])
    assert result.exit_code == 0, result.output
    return result.output


def _canvas_download(course: Course, path: Path) -> Path:
    release = notebooks.read(course.release_dir / "tiny" / "tiny.ipynb")
    with zipfile.ZipFile(path, "w") as bundle:
        for name, (when, answers) in HANDED_IN.items():
            notebook = notebooks.with_replaced_cells(release, answers)
            entry = zipfile.ZipInfo(f"submissions/{name}", date_time=when)
            bundle.writestr(entry, nbformat.writes(notebook))
    return path


def _visible(page: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split())


@pytest.mark.slow
def test_a_term_roster_deadlines_and_lms_files(tiny_course: Course, tmp_path: Path) -> None:
    course = tiny_course
    with course.config_file.open("a") as config:
        config.write(TERM_CONFIG)
    registrar = tmp_path / "registrar.csv"
    registrar.write_text(ROSTER)
    loaded = _run(course, "roster", str(registrar))
    assert "6 students in the gradebook" in loaded and "sections A, B" in loaded
    NbgraderCourse.for_course(course).generate("tiny")
    download = _canvas_download(course, tmp_path / "submissions.zip")
    collected = _run(
        course, "collect", "tiny", "--zip", str(download), "--timezone", "Europe/Berlin"
    )
    assert "5 submission(s) of tiny" in collected

    graded = _run(course, "grade", "tiny")
    assert "tiny: 2 late submission(s), penalised by the late policy" in graded
    with Gradebook(course_db_url(course)) as gradebook:  # a TA grades Ann's answer
        answer = gradebook.find_grade("explain", "tiny", "tiny", "ann")
        answer.manual_score, answer.needs_manual_grade = 1.0, False  # as formgrader saves it
        gradebook.db.commit()
        penalties = {
            student: gradebook.find_submission_notebook(
                "tiny", "tiny", student
            ).late_submission_penalty
            for student in ("ann", "ben", "cara", "dan", "eve")
        }
    # Dan: 1 day 22 hours late, two started days at 20% of his 5 points; Eve: past
    # the hard deadline, all of them.
    assert penalties == {"ann": None, "ben": None, "cara": None, "dan": 2.0, "eve": 5.0}

    _run(course, "feedback", "tiny")
    feedback = {
        student: _visible(course.root / "feedback" / student / "tiny" / "tiny.html")
        for student in ("ann", "cara", "dan", "eve")
    }
    assert "Submitted 2026-10-07 20:00 UTC; due 2026-10-07 21:59 UTC: on time." in feedback["ann"]
    assert "(with your extension of 2 days): on time." in feedback["cara"]
    assert (
        "Submitted 2026-10-09 20:00 UTC; due 2026-10-07 21:59 UTC: 1 day 22 hours late, "
        "2 points taken off. A late submission loses 20% of its points per started day "
        "late, at most 50%; after 3 days late it earns no points."
    ) in feedback["dan"]
    assert "past the hard deadline, so it earns no points" in feedback["eve"]

    _run(course, "report", "tiny")
    scores = {
        row["student"]: row
        for row in csv.DictReader((course.root / "reports" / "tiny" / "scores.csv").open())
    }
    assert (scores["dan"]["late_penalty"], scores["dan"]["total"]) == ("2.0", "3.0")
    assert scores["finn"]["name"] == "Finn Frost" and scores["finn"]["status"] == "not submitted"

    exported = _run(course, "export", "tiny")
    assert "note: ben's tiny awaits manual grading: exported without those points" in exported
    exports = course.root / "exports"
    for name in ("canvas_grades.csv", "moodle_grades.csv", "items.csv"):
        written = (exports / name).read_text(encoding="utf-8").splitlines()
        assert written == (EXPECTED / name).read_text(encoding="utf-8").splitlines(), name
