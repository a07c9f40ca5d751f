"""Unit tests of thresholds, measurements, the grading seed and reference swapping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from autograder import seeding, thresholds
from autograder.course import Course
from autograder.testing import substituted


def test_every_threshold_a_notebook_uses_exists(course: Course) -> None:
    known = thresholds.load_thresholds()
    used = set()
    for assignment in course.assignments():
        text = course.source_notebook(assignment).read_text()
        used |= set(re.findall(r'(?:assert_at_least|judge_heldout)\(\\"([\w.]+)\\"', text))
    assert used, "the notebooks should check accuracy thresholds"
    assert used <= set(known)
    assert all(0 < known[key]["threshold"] <= 1 for key in used)


def test_assert_at_least_records_and_fails_below(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "measurements.jsonl"
    monkeypatch.setenv(thresholds.MEASUREMENTS_ENV, str(log))
    key = "iris_comparison.svm"
    minimum = thresholds.threshold(key)
    thresholds.assert_at_least(key, minimum)
    with pytest.raises(AssertionError, match="below the threshold"):
        thresholds.assert_at_least(key, minimum - 0.01)
    values = [json.loads(line)["value"] for line in log.read_text().splitlines()]
    assert values == pytest.approx([minimum, minimum - 0.01])


def test_unknown_threshold_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"cnn_mnist\.train_torch"):
        thresholds.threshold("nope")


def test_grading_seed_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(seeding.SEED_ENV, raising=False)
    assert seeding.grading_seed() == 0
    monkeypatch.setenv(seeding.SEED_ENV, "7")
    assert seeding.grading_seed() == 7
    monkeypatch.setenv(seeding.SEED_ENV, "seven")
    with pytest.raises(ValueError, match="integer"):
        seeding.grading_seed()


def test_seed_everything_repeats_numpy_draws() -> None:
    seeding.seed_everything(5)
    first = np.random.rand(3)
    seeding.seed_everything(5)
    assert np.array_equal(first, np.random.rand(3))


def test_substituted_restores_and_removes_names() -> None:
    namespace = {"relu": "student"}
    with substituted(namespace, relu="reference", softmax="reference"):
        assert namespace == {"relu": "reference", "softmax": "reference"}
    assert namespace == {"relu": "student"}
    with pytest.raises(RuntimeError), substituted(namespace, relu="reference"):
        raise RuntimeError
    assert namespace == {"relu": "student"}


def test_studying_one_assignment_keeps_the_other_rows_of_the_table() -> None:
    from autograder.threshold_study import Study, derive_thresholds, format_table

    study = Study()
    study.values["backprop.train_mlp"] = [0.98, 1.0, 0.99]
    study.seconds["backprop"] = [2.0, 3.0, 4.0]
    entries = derive_thresholds(study, seeds=3, margin=0.05)
    table = format_table(entries)
    assert entries["backprop.train_mlp"]["threshold"] == pytest.approx(0.93)
    assert "| backprop | 3 | 2.0 / 3.0 / 4.0 |" in table
    for key, entry in thresholds.load_thresholds().items():
        if entry.get("status") == "measured":
            assert f"| {key} |" in table, f"{key} lost its row"
    assert "| iris_comparison |" in table
