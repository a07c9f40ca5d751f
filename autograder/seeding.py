"""The grading seed: one integer that makes every hidden test's randomness repeatable.

Hidden tests call :func:`grading_seed` and :func:`seed_everything`; the threshold study
varies the seed through the ``AUTOGRADER_SEED`` environment variable. Grading draws
each submission's seed with :func:`submission_seed`, so every student's hidden
inputs differ and a regrade draws the same ones again.
"""

from __future__ import annotations

import hashlib
import os
import random

SEED_ENV = "AUTOGRADER_SEED"
DEFAULT_SEED = 0


def grading_seed() -> int:
    """The seed of this grading run (``AUTOGRADER_SEED``, default 0)."""
    raw = os.environ.get(SEED_ENV, str(DEFAULT_SEED))
    try:
        return int(raw)
    except ValueError as error:
        raise ValueError(f"{SEED_ENV} must be an integer, got {raw!r}") from error


def submission_seed(course_seed: int, assignment: str, student: str) -> int:
    """The seed of one submission: fixed for it, different for every student.

    ``course_seed`` is the course's private grading seed; below 2**24, so tests may
    scale it into any generator's range.
    """
    key = f"{course_seed}\0{assignment}\0{student}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:3], "big")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and, when already imported, PyTorch and TensorFlow."""
    import sys

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].keras.utils.set_random_seed(seed)
