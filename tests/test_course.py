"""Unit tests of the course layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.course import Course
from autograder.errors import CourseError


def test_find_walks_up_from_a_subfolder(course: Course) -> None:
    assert Course.find(course.root / "autograder").root == course.root


def test_find_fails_clearly_outside_a_course(tmp_path: Path) -> None:
    with pytest.raises(CourseError, match=r"nbgrader_config\.py"):
        Course.find(tmp_path)


def test_the_course_has_the_five_assignments(course: Course) -> None:
    assert course.assignments() == [
        "backprop",
        "cnn_mnist",
        "forward_pass",
        "iris_comparison",
        "regression",
    ]


def test_unknown_assignment_names_the_known_ones(course: Course) -> None:
    with pytest.raises(ValueError, match="forward_pass"):
        course.resolve_assignments(["forward"], all_=False)


def test_source_notebook_requires_exactly_one(tiny_course: Course) -> None:
    assert tiny_course.source_notebook("tiny").name == "tiny.ipynb"
    (tiny_course.source_dir / "tiny" / "second.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="exactly one notebook"):
        tiny_course.source_notebook("tiny")
