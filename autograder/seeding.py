"""The grading seed: one integer that makes every hidden test's randomness repeatable.

Hidden tests call :func:`grading_seed` and :func:`seed_everything`; the threshold study
varies the seed through the ``AUTOGRADER_SEED`` environment variable.
"""

from __future__ import annotations

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
