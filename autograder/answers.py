"""What a hidden test hands to the grader instead of deciding it in the kernel.

Held-out labels never enter a graded kernel. A hidden test that trained a model
calls :func:`judge_heldout` with the model's predicted classes on the held-out
images. Where the grader runs the test (a probe returned the predictions) and
anywhere the labels are at hand (the course check, otter, the threshold study),
the accuracy is checked here. In a graded kernel (one given ``AUTOGRADER_DATA``)
they are published as a display of :data:`ANSWER_MIME`, which the grading process
takes out of the notebook and judges against the labels it alone holds
(:mod:`autograder.judges`), with the same message.
"""

from __future__ import annotations

import os

import numpy as np

from autograder import datasets, probes, thresholds

ANSWER_MIME = "application/vnd.autograder.answer+json"


def judge_heldout(key: str, predictions: object) -> None:
    """Have the predicted classes of the held-out images judged against threshold ``key``."""
    predicted = np.asarray(predictions).reshape(-1)
    if not np.issubdtype(predicted.dtype, np.integer):
        raise TypeError(f"{key}: predictions must be class numbers, got {predicted.dtype}")
    if os.environ.get(datasets.KERNEL_DATA_ENV) and not probes.in_grader():
        from IPython.display import publish_display_data

        publish_display_data({ANSWER_MIME: {"key": key, "predictions": predicted.tolist()}})
        return
    thresholds.assert_at_least(key, accuracy(predicted, datasets.heldout_labels()))


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of ``predicted`` equal to ``labels`` (which must be as many)."""
    if predicted.shape != labels.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(labels)} held-out images")
    return float(np.mean(predicted == labels))
