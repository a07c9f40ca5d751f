"""The grading process's side of :mod:`autograder.answers`: verdicts the kernel cannot forge.

A test cell names what it hands over (``judge_heldout("<key>", ...)``) in its
source, which nbgrader restores from the course's own copy before running it, so
the keys a cell must answer come from the instructor, never from the submission.
Each key needs exactly one answer published while that cell ran; the accuracy on
the held-out labels, which only this process holds, must reach the key's
threshold. Anything else fails the cell with a message the student can act on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import numpy as np

from autograder import datasets, thresholds
from autograder.answers import accuracy

_JUDGED = re.compile(r"""judge_heldout\(\s*["']([\w.]+)["']""")


def judged_keys(test_source: str) -> list[str]:
    """The threshold keys a test cell hands to the grader, in order."""
    return list(dict.fromkeys(_JUDGED.findall(test_source)))


@functools.cache
def _labels() -> np.ndarray:
    return datasets.heldout_labels()


def verdict(key: str, answers: Sequence[object]) -> str | None:
    """None when the answers for ``key`` pass, else why the test fails."""
    if not answers:
        return (
            f"{key}: no predictions of the held-out images came back from this test "
            "(the test was changed or stopped before it handed them over)"
        )
    if len(answers) > 1:
        return f"{key}: {len(answers)} sets of predictions came back; the test hands over one"
    labels = _labels()
    predicted = _class_numbers(answers[0], len(labels))
    if predicted is None:
        return f"{key}: what came back is not {len(labels)} class numbers from 0 to 9"
    measured = accuracy(predicted, labels)
    thresholds.record_measurement(key, measured)
    minimum = thresholds.threshold(key)
    if measured < minimum:
        return f"{key}: measured {measured:.4f}, below the threshold {minimum:.4f}"
    return None


def _class_numbers(answer: object, count: int) -> np.ndarray | None:
    predictions = answer.get("predictions") if isinstance(answer, Mapping) else None
    if not isinstance(predictions, list) or len(predictions) != count:
        return None
    if not all(type(value) is int and 0 <= value <= 9 for value in predictions):
        return None
    return np.asarray(predictions, dtype=np.int64)
