"""The class report on a scratch course whose gradebook and records are made by hand.

The tiny course (two auto-graded items, relu 3 points and double 2, and a free
response, explain, 1 point) is released once; each test copies it and adds the
students, grades, records and submission folders it needs.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from markupsafe import escape
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook

from autograder import records, report, report_data, report_submissions
from autograder.cli import main
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse
from autograder.settings import course_db_url
from tests.conftest import one_assignment_course, tiny_notebook

ITEMS = {"relu": ("test_relu", 3.0), "double": ("test_double", 2.0)}
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = "<script>alert('message')</script> & more"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny course with its release generated (the gradebook knows the assignment)."""
    course = one_assignment_course(
        tmp_path_factory.mktemp("released") / "course", "tiny", tiny_notebook()
    )
    NbgraderCourse.for_course(course).generate("tiny")
    return course.root


@pytest.fixture()
def scratch(released: Path, tmp_path: Path) -> Course:
    """A copy of the released tiny course."""
    root = tmp_path / "course"
    shutil.copytree(released, root)
    return Course(root)


def notebook_text(*cells) -> str:
    notebook = new_notebook()
    notebook.cells = list(cells)
    return nbformat.writes(notebook)


def submit(course: Course, student: str, text: str | None = None) -> Path:
    path = course.root / "submitted" / student / "tiny" / "tiny.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None else notebook_text(new_code_cell("x = 1")))
    return path


def grade(
    course: Course,
    student: str,
    scores: dict[str, float],
    *,
    reasons: list[str] | None = None,
    messages: dict[str, str] | None = None,
    manual: float | None = None,
    wall_seconds: float = 1.0,
    submitted: bool = True,
) -> records.GradingRecord:
    """``student``'s graded submission: gradebook grades, a record and a folder."""
    with Gradebook(course_db_url(course)) as gradebook:
        gradebook.update_or_create_student(student)
        gradebook.add_submission("tiny", student)
        for name, score in scores.items():
            gradebook.find_grade(ITEMS[name][0], "tiny", "tiny", student).auto_score = score
        if manual is not None:
            gradebook.find_grade("explain", "tiny", "tiny", student).manual_score = manual
        gradebook.db.commit()
    items = {
        ITEMS[name][0]: {"score": score, "max_score": ITEMS[name][1], "manual": False}
        for name, score in scores.items()
    }
    items["explain"] = {"score": manual or 0.0, "max_score": 1.0, "manual": True}
    record = records.GradingRecord(
        assignment="tiny",
        student=student,
        status="graded",
        score=sum(scores.values()),
        max_score=5.0,
        manual_points=1.0,
        items=items,
        reasons=reasons or [],
        messages=messages or {},
        wall_seconds=wall_seconds,
        graded_at="2026-11-30T10:00:00+00:00",
    )
    records.save(course, record)
    if submitted:
        submit(course, student)
    return record


def not_gradable(course: Course, student: str, reason: str) -> None:
    records.save(
        course,
        records.GradingRecord(
            assignment="tiny", student=student, status="error", reasons=[reason], error=reason
        ),
    )
    submit(course, student, "{ not json")


def enrol(course: Course, student: str) -> None:
    with Gradebook(course_db_url(course)) as gradebook:
        gradebook.update_or_create_student(student)


def scores_csv(course: Course) -> dict[str, dict[str, str]]:
    path = course.root / "reports" / "tiny" / "scores.csv"
    return {row["student"]: row for row in csv.DictReader(path.open())}


def failures_csv(course: Course) -> list[dict[str, str]]:
    path = course.root / "reports" / "tiny" / "failures.csv"
    return list(csv.DictReader(path.open()))


class Tables(HTMLParser):
    """Each table's rows (by the table's id) as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = dict(attrs).get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(page: Path) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(page.read_text())
    return parser.tables


def test_roster_joins_gradebook_records_and_submission_folders(scratch: Course) -> None:
    grade(scratch, "ada", {"relu": 3, "double": 2}, manual=1)
    enrol(scratch, "nobody")
    submit(scratch, "late")
    not_gradable(scratch, "broken", "invalid notebook: tiny.ipynb: Notebook does not appear")
    page = report.write_report(scratch, "tiny")

    rows = scores_csv(scratch)
    assert {name: row["status"] for name, row in rows.items()} == {
        "ada": "graded",
        "broken": "not gradable",
        "late": "not graded yet",
        "nobody": "not submitted",
    }
    ada = rows["ada"]
    assert (ada["auto_score"], ada["manual_score"], ada["total"]) == ("5.0", "1.0", "6.0")
    assert (ada["auto_max"], ada["manual_max"], ada["total_max"]) == ("5.0", "1.0", "6.0")
    assert (ada["relu"], ada["double"], ada["explain"]) == ("3.0", "2.0", "1.0")
    assert rows["nobody"]["total"] == rows["nobody"]["relu"] == ""
    assert list(rows["ada"])[: len(report.CSV_COLUMNS)] == list(report.CSV_COLUMNS)

    summary = page.read_text()
    assert "of 5 auto-graded points; TAs grade 1 more points, 6 in all" in summary
    roster = tables(page)["roster-table"]
    assert [row[0] for row in roster[1:]] == ["ada", "broken", "late", "nobody"]
    help_rows = {row[0]: row[2] for row in tables(page)["needs-help-table"][1:]}
    assert set(help_rows) == {"broken", "late", "nobody"}
    assert "did not submit" in help_rows["nobody"]
    assert "could not be graded: invalid notebook" in help_rows["broken"]
    assert "not graded yet" in help_rows["late"]
    # The gradebook's student who never submitted has no links; the others link their
    # notebook, rendered.
    assert 'href="submissions/ada.html"' in page.read_text()
    assert not (page.parent / "submissions" / "nobody.html").exists()


def test_item_scores_are_the_gradebooks_with_a_tas_score_first(scratch: Course) -> None:
    grade(scratch, "ada", {"relu": 0, "double": 2})
    grade(scratch, "bob", {"relu": 1.5, "double": 0})
    with Gradebook(course_db_url(scratch)) as gradebook:
        gradebook.find_grade("test_relu", "tiny", "tiny", "ada").manual_score = 2.5
        gradebook.find_grade("explain", "tiny", "tiny", "ada").manual_score = 0.5
        gradebook.db.commit()
    report.write_report(scratch, "tiny")
    rows = scores_csv(scratch)
    assert (rows["ada"]["relu"], rows["ada"]["explain"], rows["ada"]["total"]) == (
        "2.5",
        "0.5",
        "5.0",
    )
    # bob's free response: nobody graded it, so it is empty and not part of his total.
    assert (rows["bob"]["relu"], rows["bob"]["explain"], rows["bob"]["total"]) == ("1.5", "", "1.5")
    data = report_data.assignment_report(scratch, "tiny")
    (progress,) = data.manual_progress
    assert (progress.ta_graded, progress.submissions, progress.awaiting) == (1, 2, 1)


def test_below_the_help_fraction_a_student_needs_help(scratch: Course) -> None:
    grade(scratch, "ada", {"relu": 3, "double": 2})
    grade(scratch, "bob", {"relu": 0, "double": 2})  # 2 of 5: 40%
    grade(scratch, "cy", {"relu": 3, "double": 2}, reasons=["timeout: a cell ran past the limit"])
    default = report_data.assignment_report(scratch, "tiny")
    assert {row.student: row.help for row in default.needs_help} == {
        "bob": ["scored 2 of 5 auto-graded points (below 50%)"],
        "cy": ["flagged: timeout: a cell ran past the limit"],
    }
    lenient = report_data.assignment_report(scratch, "tiny", help_below=0.3)
    assert [row.student for row in lenient.needs_help] == ["cy"]

    result = CliRunner().invoke(
        main, ["report", "tiny", "--help-below", "0.3", "--course", str(scratch.root)]
    )
    assert result.exit_code == 0, result.output
    page = scratch.root / "reports" / "tiny" / "index.html"
    assert [row[0] for row in tables(page)["needs-help-table"][1:]] == ["cy"]
    assert "below 30% of the 5 auto-graded points" in html.unescape(page.read_text())
    result = CliRunner().invoke(
        main, ["report", "tiny", "--help-below", "2", "--course", str(scratch.root)]
    )
    assert result.exit_code != 0


def test_failures_group_students_by_message_most_common_first(scratch: Course) -> None:
    same = "relu(-1) should be 0"
    grade(scratch, "ada", {"relu": 0, "double": 2}, messages={"relu": same})
    grade(scratch, "bob", {"relu": 0, "double": 1}, messages={"relu": same, "double": "2 != 4"})
    grade(scratch, "cy", {"relu": 1, "double": 2})  # an old record: no messages
    grade(scratch, "dee", {"relu": 3, "double": 2})
    page = report.write_report(scratch, "tiny")
    assert failures_csv(scratch) == [
        {"item": "relu", "message": same, "count": "2", "students": "ada; bob"},
        {
            "item": "relu",
            "message": report_data.NO_MESSAGE,
            "count": "1",
            "students": "cy",
        },
        {"item": "double", "message": "2 != 4", "count": "1", "students": "bob"},
    ]
    shown = [row[:3] for row in tables(page)["failures-table"][1:]]
    assert shown == [
        ["relu", same, "2"],
        ["relu", report_data.NO_MESSAGE, "1"],
        ["double", "2 != 4", "1"],
    ]


def test_whatever_a_student_wrote_is_escaped_on_every_page(scratch: Course) -> None:
    enrol(scratch, "<script>alert('name')</script>")
    grade(
        scratch,
        HOSTILE_NAME,
        {"relu": 0, "double": 2},
        reasons=["changed locked cell: <b>test_relu</b>"],
        messages={"relu": HOSTILE_MESSAGE},
    )
    submit(
        scratch,
        HOSTILE_NAME,
        notebook_text(
            new_markdown_cell("<script>alert('markdown')</script>[x](javascript:alert(2))"),
            new_code_cell(
                "print('<script>alert(3)</script>')",
                outputs=[
                    new_output("stream", name="stdout", text="<script>alert(4)</script>\n"),
                    new_output(
                        "display_data",
                        data={
                            "text/html": "<script>alert(5)</script>",
                            "image/svg+xml": "<svg onload=alert(6)></svg>",
                            "text/plain": "<HTML object>",
                        },
                    ),
                    new_output("display_data", data={"image/png": '"><script>alert(7)<'}),
                    new_output(
                        "display_data", data={"image/png": base64.b64encode(b"png").decode()}
                    ),
                ],
            ),
        ),
    )
    report.write_report(scratch, "tiny")
    pages = sorted((scratch.root / "reports").rglob("*.html"))
    assert len(pages) == 3  # the index, the assignment and the one submission
    for page in pages:
        text = page.read_text()
        for raw in ("<script>alert", "<img src=x", "<b>test_relu", "<svg onload", '="javascript'):
            assert raw not in text, f"{page.name} holds {raw!r}"
        scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
        policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
        assert policy and "default-src 'none'" in policy[1], page.name
        if scripts:
            (script,) = scripts
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"script-src 'sha256-{digest}'" in policy[1]
            assert "alert" not in script
        else:
            assert "script-src" not in policy[1]
    index = (scratch.root / "reports" / "tiny" / "index.html").read_text()
    assert escape(HOSTILE_NAME) in index and escape(HOSTILE_MESSAGE) in index
    assert "&lt;b&gt;test_relu&lt;/b&gt;" in index
    overview = (scratch.root / "reports" / "index.html").read_text()
    assert escape("<script>alert('name')</script>") in overview
    shown = (scratch.root / "reports" / "tiny" / "submissions" / f"{HOSTILE_NAME}.html").read_text()
    assert "&lt;script&gt;alert(&#39;markdown&#39;)&lt;/script&gt;" in shown
    assert "output of type image/svg+xml, text/html" not in shown  # text/plain is there
    assert "&lt;HTML object&gt;" in shown
    assert 'src="data:image/png;base64,' + base64.b64encode(b"png").decode() + '"' in shown
    assert shown.count("<img") == 1
    # The link to the page is percent-encoded.
    assert 'href="submissions/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html"' in index


def test_a_linked_notebook_or_folder_is_not_followed(scratch: Course, tmp_path: Path) -> None:
    secret = tmp_path / "answer-key.ipynb"
    secret.write_text(notebook_text(new_code_cell("ANSWER_KEY_SECRET = 42")))
    grade(scratch, "eve", {"relu": 3, "double": 2})
    notebook = scratch.root / "submitted" / "eve" / "tiny" / "tiny.ipynb"
    notebook.unlink()
    notebook.symlink_to(secret)
    grade(scratch, "mal", {"relu": 3, "double": 2}, submitted=False)
    (scratch.root / "submitted" / "mal").mkdir(parents=True)
    (scratch.root / "submitted" / "mal" / "tiny").symlink_to(secret.parent)
    grade(scratch, "fifo", {"relu": 3, "double": 2})
    pipe = scratch.root / "submitted" / "fifo" / "tiny" / "tiny.ipynb"
    pipe.unlink()
    os.mkfifo(pipe)

    report.write_report(scratch, "tiny")
    folder = scratch.root / "reports" / "tiny" / "submissions"
    for page in folder.glob("*.html"):
        assert "ANSWER_KEY_SECRET" not in page.read_text(), page.name
    assert "is a symbolic link; links are not followed" in (folder / "eve.html").read_text()
    assert "not a regular file" in (folder / "fifo.html").read_text()
    # mal's assignment folder is a link: not a submission folder at all.
    assert not (folder / "mal.html").exists()
    assert scores_csv(scratch)["mal"]["status"] == "graded"


def test_a_broken_or_oversized_notebook_gets_a_page_that_says_so(
    scratch: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_gradable(scratch, "broken", "invalid notebook")
    grade(scratch, "big", {"relu": 3, "double": 2})
    submit(scratch, "big", notebook_text(new_code_cell("x = 1\n" * 100)))
    monkeypatch.setattr(report_submissions, "MAX_NOTEBOOK_BYTES", 500)
    report.write_report(scratch, "tiny")
    folder = scratch.root / "reports" / "tiny" / "submissions"
    assert "not a readable notebook" in (folder / "broken.html").read_text()
    assert "over the limit of 500 bytes" in (folder / "big.html").read_text()


def test_submission_pages_are_made_again_only_when_the_notebook_changes(
    scratch: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    grade(scratch, "ada", {"relu": 3, "double": 2})
    grade(scratch, "bob", {"relu": 3, "double": 2})
    report.write_report(scratch, "tiny")
    reads: list[str] = []
    original = report_submissions.read_submission

    def counting(submitted, student, assignment):
        reads.append(student)
        return original(submitted, student, assignment)

    monkeypatch.setattr(report_submissions, "read_submission", counting)
    report.write_report(scratch, "tiny")
    assert reads == []
    notebook = submit(scratch, "bob", notebook_text(new_code_cell("y = 'changed'")))
    os.utime(notebook, ns=(notebook.stat().st_mtime_ns + 10**9,) * 2)
    report.write_report(scratch, "tiny")
    assert reads == ["bob"]
    assert "changed" in (scratch.root / "reports/tiny/submissions/bob.html").read_text()


def test_the_index_follows_every_assignment_with_records(scratch: Course) -> None:
    grade(scratch, "ada", {"relu": 3, "double": 2}, manual=1)
    grade(scratch, "bob", {"relu": 0, "double": 2})
    # An older assignment whose source is gone: its items come from the records.
    records.save(
        scratch,
        records.GradingRecord(
            assignment="intro",
            student="ada",
            status="graded",
            score=1.0,
            max_score=4.0,
            items={"test_warmup": {"score": 1.0, "max_score": 4.0, "manual": False}},
            graded_at="2026-10-01T10:00:00+00:00",
        ),
    )
    report.write_report(scratch, "tiny")
    index = scratch.root / "reports" / "index.html"
    found = tables(index)
    assignments = found["assignments-table"][1:]
    assert [row[0] for row in assignments] == [
        "intro (no page yet: autograder report intro)",
        "tiny",
    ]
    assert [row[1:] for row in assignments] == [["1", "1", "25%"], ["2", "2", "70%"]]
    students = {row[0]: row[1:3] for row in found["students-table"][1:]}
    assert students == {"ada": ["25%", "100%"], "bob": ["\N{EN DASH}", "40%"]}
    assert 'href="tiny/index.html"' in index.read_text()
    assert index.read_text().count("<polyline") == 1  # ada has two points, bob one


def test_a_folder_name_that_is_not_utf8_still_gets_its_row_and_page(scratch: Course) -> None:
    grade(scratch, "ada", {"relu": 3, "double": 2})
    name = os.fsdecode(b"caf\xe9")
    submit(scratch, name)
    page = report.write_report(scratch, "tiny")
    assert (page.parent / "submissions" / f"{name}.html").is_file()
    assert 'href="submissions/caf%E9.html"' in page.read_text()
    assert len(scores_csv(scratch)) == 2


def test_csv_text_a_student_shaped_is_never_a_spreadsheet_formula(scratch: Course) -> None:
    formula = '=HYPERLINK("http://example.invalid","ok")'
    grade(scratch, "ada", {"relu": 0, "double": 2}, messages={"relu": formula}, reasons=["-x"])
    report.write_report(scratch, "tiny")
    (failure,) = failures_csv(scratch)
    assert failure["message"] == "'" + formula
    assert scores_csv(scratch)["ada"]["reasons"] == "'-x"
