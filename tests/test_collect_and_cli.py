"""Collecting submissions from a zip, and the command line's error messages."""

from __future__ import annotations

import datetime
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from nbgrader.utils import parse_utc

from autograder.cli import main
from autograder.collect import SUBMIT_SLACK, collect_from_exchange, collect_from_zip
from autograder.course import Course
from autograder.errors import CourseError


def test_zip_collect_places_each_student_in_submitted(tiny_course: Course, tmp_path: Path) -> None:
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("alice/tiny.ipynb", "{}")
        bundle.writestr("bob/tiny.ipynb", "{}")
        bundle.writestr("bob/data/extra.txt", "x")
    assert collect_from_zip(tiny_course, "tiny", archive).students == ["alice", "bob"]
    bob = tiny_course.root / "submitted" / "bob" / "tiny"
    assert (bob / "tiny.ipynb").is_file() and (bob / "data" / "extra.txt").is_file()
    assert (bob / "timestamp.txt").is_file()


@pytest.mark.parametrize("entry", ["../evil/tiny.ipynb", "lonely.ipynb", "/abs/tiny.ipynb"])
def test_zip_collect_rejects_paths_outside_a_student_folder(
    tiny_course: Course, tmp_path: Path, entry: str
) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(entry, "{}")
    with pytest.raises(ValueError, match="not <student>/<file>"):
        collect_from_zip(tiny_course, "tiny", archive)


def zip_of(path: Path, entries: dict[str, str], when=(2026, 11, 20, 14, 30, 6)) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, text in entries.items():
            bundle.writestr(zipfile.ZipInfo(name, date_time=when), text)
    return path


def test_zip_collect_skips_junk_unwraps_a_folder_and_names_the_notebook(
    tiny_course: Course, tmp_path: Path
) -> None:
    archive = zip_of(
        tmp_path / "download.zip",
        {
            "subs/alice/Tiny (1).ipynb": "{}",
            "subs/bob/tiny.ipynb": "{}",
            "subs/bob/.DS_Store": "x",
            "__MACOSX/subs/alice/._Tiny (1).ipynb": "x",
            "subs/cy/Untitled.ipynb": "{}",
        },
    )
    collected = collect_from_zip(tiny_course, "tiny", archive, timezone="Europe/Berlin")
    assert collected.students == ["alice", "bob", "cy"]
    assert collected.notes == [
        "alice: took 'Tiny (1).ipynb' as tiny.ipynb",
        "cy: no tiny.ipynb in the submission ('Untitled.ipynb')",
    ]
    submitted = tiny_course.root / "submitted"
    assert sorted(p.name for p in (submitted / "alice" / "tiny").iterdir()) == [
        "timestamp.txt",
        "tiny.ipynb",
    ]
    assert sorted(p.name for p in submitted.iterdir()) == ["alice", "bob", "cy"]
    stamp = (submitted / "bob" / "tiny" / "timestamp.txt").read_text()
    assert stamp == "2026-11-20 14:30:06.000000 Europe/Berlin"
    assert parse_utc(stamp).hour == 13  # nbgrader reads it in that time zone

    # Collecting a corrected zip again replaces what a student had.
    again = zip_of(tmp_path / "again.zip", {"alice/tiny.ipynb": "[]"})
    assert collect_from_zip(tiny_course, "tiny", again).notes == []
    assert (submitted / "alice" / "tiny" / "tiny.ipynb").read_text() == "[]"
    assert not (submitted / "alice" / "tiny" / "Tiny (1).ipynb").exists()


def test_canvas_and_moodle_downloads_collect_to_the_roster_ids(
    tiny_course: Course, tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id,name\nalice,1001,Alice Liddell\nbob,1002,Bob Ross\n")
    canvas = zip_of(
        tmp_path / "canvas.zip",
        {
            "liddellalice_1001_555_tiny.ipynb": "{}",
            "rossbob_LATE_1002_556_tiny-1.ipynb": "{}",
        },
    )
    collected = collect_from_zip(tiny_course, "tiny", canvas, roster)
    assert collected.students == ["alice", "bob"]
    assert collected.notes == ["bob: took 'tiny-1.ipynb' as tiny.ipynb"]
    moodle = zip_of(
        tmp_path / "moodle.zip",
        {
            "Alice Liddell_77_assignsubmission_file_/tiny.ipynb": "{}",
            "Bob Ross_78_assignsubmission_file_/tiny.ipynb": "{}",
            "Bob Ross_78_assignsubmission_file_/notes.txt": "mine",
        },
        when=(2026, 11, 21, 9, 0, 0),
    )
    assert collect_from_zip(tiny_course, "tiny", moodle, roster).students == ["alice", "bob"]
    bob = tiny_course.root / "submitted" / "bob" / "tiny"
    assert (bob / "notes.txt").read_text() == "mine"
    assert (bob / "timestamp.txt").read_text().startswith("2026-11-21 09:00:00")
    with pytest.raises(CourseError, match="--roster"):
        collect_from_zip(tiny_course, "tiny", canvas)
    stranger = zip_of(tmp_path / "stranger.zip", {"smithjo_1003_557_tiny.ipynb": "{}"})
    with pytest.raises(CourseError, match="no student_id for 'smithjo'"):
        collect_from_zip(tiny_course, "tiny", stranger, roster)


def test_collect_refuses_an_unknown_assignment(tiny_course: Course, tmp_path: Path) -> None:
    archive = zip_of(tmp_path / "subs.zip", {"alice/tiny.ipynb": "{}"})
    result = CliRunner().invoke(
        main, ["collect", "tinny", "--zip", str(archive), "--course", str(tiny_course.root)]
    )
    assert result.exit_code != 0 and "unknown assignment(s) ['tinny']" in result.output
    assert not (tiny_course.root / "submitted").exists()


def test_cli_lists_the_nbgrader_steps() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for verb in ("release", "collect", "grade", "feedback", "report", "export", "check", "demo"):
        assert verb in result.output


def test_cli_names_the_known_assignments_for_an_unknown_one(course: Course) -> None:
    result = CliRunner().invoke(main, ["release", "forwardpass", "--course", str(course.root)])
    assert result.exit_code != 0
    assert "forward_pass" in result.output


def test_cli_report_without_grades_says_what_to_do(tiny_course: Course) -> None:
    result = CliRunner().invoke(main, ["report", "tiny", "--course", str(tiny_course.root)])
    assert result.exit_code != 0
    assert "autograder grade" in result.output


def test_exchange_collect_leaves_planted_links_behind(tiny_course: Course, tmp_path: Path) -> None:
    exchange = tmp_path / "exchange"
    with open(tiny_course.config_file, "a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    inbound = exchange / "intro-deep-learning" / "inbound"
    submission = inbound / "mallory+tiny+2026-11-30 10:00:00.000000 UTC+abc123"
    submission.mkdir(parents=True)
    (submission / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    (submission / "tiny.ipynb").write_text('{"cells": []}')
    answer_key = tmp_path / "answer-key.ipynb"
    answer_key.write_text("THE ANSWERS")
    (submission / "key.ipynb").symlink_to(answer_key)

    assert collect_from_exchange(tiny_course, "tiny") == ["mallory"]
    collected = tiny_course.root / "submitted" / "mallory" / "tiny"
    assert sorted(p.name for p in collected.iterdir()) == ["timestamp.txt", "tiny.ipynb"]


def test_collect_without_an_exchange_says_how_to_set_one(
    tiny_course: Course, tmp_path: Path
) -> None:
    with (tiny_course.root / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.Exchange.root = {str(tmp_path / 'nowhere')!r}\n")
    result = CliRunner().invoke(main, ["collect", "tiny", "--course", str(tiny_course.root)])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: no nbgrader exchange at {tmp_path / 'nowhere'}; set c.Exchange.root in "
        "nbgrader_config.py (JupyterHub: see deploy/), or collect a zip with --zip"
    ]


def test_exchange_collect_keeps_a_submission_time_no_student_can_set_back(
    tiny_course: Course, tmp_path: Path
) -> None:
    """``nbgrader submit`` runs as the student, who can write any time into it; the
    files' change times cannot be set back, so a time before them is not believed."""
    exchange = tmp_path / "exchange"
    with open(tiny_course.config_file, "a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    inbound = exchange / "intro-deep-learning" / "inbound"
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    claims = {
        "honest": now - datetime.timedelta(seconds=5),
        "forger": datetime.datetime(2026, 1, 1),
    }
    for student, claimed in claims.items():
        stamp = f"{claimed:%Y-%m-%d %H:%M:%S.%f} UTC"
        submission = inbound / f"{student}+tiny+{stamp}+abc123"
        submission.mkdir(parents=True)
        (submission / "timestamp.txt").write_text(stamp)
        (submission / "tiny.ipynb").write_text('{"cells": []}')

    assert sorted(collect_from_exchange(tiny_course, "tiny")) == ["forger", "honest"]
    kept = {
        student: parse_utc(
            (tiny_course.root / "submitted" / student / "tiny" / "timestamp.txt").read_text()
        )
        for student in claims
    }
    assert abs(kept["honest"] - claims["honest"]) < datetime.timedelta(milliseconds=1)
    assert kept["forger"] >= now - SUBMIT_SLACK - datetime.timedelta(seconds=5)
