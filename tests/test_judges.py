"""Unit tests of the held-out hand-over: the kernel's side and the grader's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autograder import answers, datasets, judges, thresholds

KEY = "cnn_mnist.train_torch"


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return datasets.heldout_labels()


def answer(predictions: object, key: str = KEY) -> dict:
    return {"key": key, "predictions": predictions}


def test_keys_come_from_the_test_source_in_order_once() -> None:
    source = (
        "_judge_heldout('cnn_mnist.keras_cnn', p)\n"
        'judge_heldout(\n    "cnn_mnist.train_torch", q)\n'
        "_judge_heldout('cnn_mnist.keras_cnn', p)"
    )
    assert judges.judged_keys(source) == ["cnn_mnist.keras_cnn", "cnn_mnist.train_torch"]
    assert judges.judged_keys("assert relu(1) == 1") == []


def test_right_predictions_pass_and_are_recorded(
    labels: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "measurements.jsonl"
    monkeypatch.setenv(thresholds.MEASUREMENTS_ENV, str(log))
    assert judges.verdict(KEY, [answer(labels.tolist())]) is None
    assert json.loads(log.read_text()) == {"key": KEY, "value": 1.0}


def test_predictions_below_the_threshold_fail_with_the_measured_accuracy(
    labels: np.ndarray,
) -> None:
    wrong = labels.copy()
    wrong[: len(wrong) // 2] = (wrong[: len(wrong) // 2] + 1) % 10
    message = judges.verdict(KEY, [answer(wrong.tolist())])
    assert message == f"{KEY}: measured 0.5000, below the threshold {thresholds.threshold(KEY):.4f}"


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ([], "no predictions of the held-out images came back"),
        ([answer([0] * 1000), answer([0] * 1000)], "2 sets of predictions came back"),
        ([answer([0] * 999)], "is not 1000 class numbers"),
        ([answer(["7"] * 1000)], "is not 1000 class numbers"),
        ([answer([10] * 1000)], "is not 1000 class numbers"),
        ([answer([True] * 1000)], "is not 1000 class numbers"),
        ([answer({"0": 1})], "is not 1000 class numbers"),
        (["predictions"], "is not 1000 class numbers"),
    ],
)
def test_missing_repeated_or_malformed_answers_fail(given: list, words: str) -> None:
    message = judges.verdict(KEY, given)
    assert message is not None and words in message


def test_outside_a_graded_kernel_the_test_judges_with_the_labels_at_hand(
    labels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(datasets.KERNEL_DATA_ENV, raising=False)
    answers.judge_heldout(KEY, labels)
    with pytest.raises(AssertionError, match="below the threshold"):
        answers.judge_heldout(KEY, np.zeros_like(labels))
    with pytest.raises(ValueError, match="999 predictions for 1000"):
        answers.judge_heldout(KEY, labels[:999])
    with pytest.raises(TypeError, match="class numbers"):
        answers.judge_heldout(KEY, labels.astype(float))
