"""Collecting submissions from a zip, and the command line's error messages."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.collect import collect_from_exchange, collect_from_zip
from autograder.course import Course


def test_zip_collect_places_each_student_in_submitted(tiny_course: Course, tmp_path: Path) -> None:
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("alice/tiny.ipynb", "{}")
        bundle.writestr("bob/tiny.ipynb", "{}")
        bundle.writestr("bob/data/extra.txt", "x")
    assert collect_from_zip(tiny_course, "tiny", archive) == ["alice", "bob"]
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
