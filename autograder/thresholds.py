"""Accuracy thresholds: the one place hidden tests read them from.

``thresholds.json`` beside this module is written by the threshold study
(``autograder thresholds``): each key holds the threshold and the measured
distribution it was derived from. When ``AUTOGRADER_MEASUREMENTS`` names a file,
every checked value is also appended to it (JSON lines), which is how the study
measures exactly what the hidden tests measure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")
MEASUREMENTS_ENV = "AUTOGRADER_MEASUREMENTS"


def load_thresholds() -> dict[str, dict[str, Any]]:
    """Every threshold entry, keyed ``<assignment>.<measure>``."""
    return json.loads(THRESHOLDS_FILE.read_text())


def threshold(key: str) -> float:
    """The minimum value a submission must reach for ``key``."""
    entries = load_thresholds()
    if key not in entries:
        raise KeyError(f"no threshold named {key!r}; known: {sorted(entries)}")
    return float(entries[key]["threshold"])


def record_measurement(key: str, value: float) -> None:
    """Append ``value`` to the measurements file, when one is configured."""
    path = os.environ.get(MEASUREMENTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "value": float(value)}) + "\n")


def assert_at_least(key: str, value: float) -> None:
    """Record ``value`` and fail with a readable message when it is below the threshold."""
    record_measurement(key, value)
    minimum = threshold(key)
    assert value >= minimum, f"{key}: measured {value:.4f}, below the threshold {minimum:.4f}"
