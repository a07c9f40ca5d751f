"""Grading tasks as data: what they carry, what they may write, how they travel."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from test_pipeline import RELU, grade, prepare

from autograder.grading_task import (
    GradingOutcome,
    GradingTask,
    outcome_from_json,
    outcome_to_json,
    replace_folder,
    run_task,
    task_from_json,
    task_to_json,
    write_files,
)
from autograder.pipeline import BatchGrader
from autograder.settings import course_db_url, limits_from, load_settings
from autograder.worker import GradingRequest


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "", "a//b", "./a"])
def test_a_task_cannot_write_outside_its_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="may not write"):
        write_files(tmp_path / "inside", {name: b"x"})
    assert not (tmp_path / "escape.txt").exists()


def test_a_task_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text("kept")
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "f.txt").symlink_to(tmp_path / "target.txt")
    with pytest.raises(OSError):
        write_files(tmp_path / "inside", {"f.txt": b"overwritten"})
    assert (tmp_path / "target.txt").read_text() == "kept"


def test_replace_folder_replaces_a_link_instead_of_following_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("kept")
    (tmp_path / "graded").symlink_to(elsewhere)
    replace_folder(tmp_path / "graded", {"sub/a.ipynb": b"{}"})
    assert not (tmp_path / "graded").is_symlink()
    assert (tmp_path / "graded" / "sub" / "a.ipynb").read_bytes() == b"{}"
    assert (elsewhere / "keep.txt").read_text() == "kept"
    replace_folder(tmp_path / "graded", {"b.txt": b"b"})
    assert sorted(p.name for p in (tmp_path / "graded").iterdir()) == ["b.txt"]


def test_tasks_and_outcomes_survive_the_trip_as_json() -> None:
    request = GradingRequest(
        "", "a", "s", "sandbox", {"cell_timeout": 3}, 7, "", manual_items=["m"]
    )
    task = GradingTask(request, {"x/y.bin": bytes(range(256))}, b"\0db", ["dropped: z"])
    assert task_from_json(task_to_json(task)) == task
    outcome = GradingOutcome({"score": 1.5}, {"a.ipynb": b"\xff"}, b"db")
    assert outcome_from_json(outcome_to_json(outcome)) == outcome


def test_a_task_carries_no_answer_key_and_no_other_students_grades(
    tiny_course, listening_port: int
) -> None:
    prepare(tiny_course, listening_port, ["full-marks", "blank"])
    (tiny_course.source_dir / "tiny" / "data.csv").write_text("x\n1\n")
    grade(tiny_course, "sandbox")
    with Gradebook(course_db_url(tiny_course)) as gradebook:
        assert len(gradebook.assignment_submissions("tiny")) == 2

    settings = load_settings(tiny_course)
    grader = BatchGrader(tiny_course, settings, limits_from(tiny_course, settings))
    shared = grader._shared_task_parts("tiny")
    assert sorted(shared.files) == [
        "nbgrader_config.py",
        "release/tiny/tiny.ipynb",
        "source/tiny/data.csv",
    ]
    assert RELU.encode() not in b"".join(shared.files.values())
    assert shared.request.manual_items == ["explain"]
    template = tiny_course.root / "template.db"
    template.write_bytes(shared.gradebook)
    with closing(sqlite3.connect(template)) as database:
        count = database.execute
        assert count("SELECT COUNT(*) FROM student").fetchone() == (0,)
        assert count("SELECT COUNT(*) FROM grade").fetchone() == (0,)
        assert count("SELECT COUNT(*) FROM grade_cells").fetchone()[0] == 3


def test_a_task_that_cannot_be_unpacked_gives_an_error_record() -> None:
    request = GradingRequest("", "tiny", "someone", "sandbox", {}, 0, "")
    outcome = run_task(GradingTask(request, {"../outside.txt": b"x"}))
    assert outcome.record["status"] == "error"
    assert outcome.record["reasons"] == [
        "crash: the grading task could not be unpacked on its worker"
    ]
    assert "may not write to '../outside.txt'" in outcome.record["error"]
    assert outcome.autograded == {}
