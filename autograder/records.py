"""One JSON record per graded submission: scores, reasons, environment, provenance.

Records live in ``grading/<assignment>/<student>.json`` in the course folder. Each
says what it was made from (the submission's files, the tests, seed, limits and back
end), so a batch can tell a record that stands from one to grade again.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from autograder import intake
from autograder.course import Course

RECORDS_DIR = "grading"
_PACKAGES = ("torch", "tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "nbgrader")


@dataclass
class GradingRecord:
    """What grading one submission produced; ``status`` is ``graded`` or ``error``.

    ``score`` and ``max_score`` count auto-graded points; ``manual_points`` are the
    points TAs still grade by hand. ``messages`` holds, keyed like ``items`` (grade
    ids of test cells), the one line the feedback shows for each auto-graded item that
    did not earn every point (never test code).
    """

    assignment: str
    student: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    manual_points: float = 0.0
    items: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    wall_seconds: float = 0.0
    backend: str = ""
    image: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    limits: dict[str, int] = field(default_factory=dict)
    tests_sha256: str = ""
    submission_sha256: str = ""
    graded_at: str = ""

    @property
    def flagged(self) -> bool:
        """Not graded, or graded with a reason a TA should look at."""
        return self.status != "graded" or bool(self.reasons)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GradingRecord:
        return cls(**json.loads(text))


def record_path(course: Course, assignment: str, student: str) -> Path:
    return course.root / RECORDS_DIR / assignment / f"{student}.json"


def save(course: Course, record: GradingRecord) -> Path:
    path = record_path(course, record.assignment, record.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(record.to_json())
    temporary.replace(path)
    return path


def load(course: Course, assignment: str, student: str) -> GradingRecord | None:
    path = record_path(course, assignment, student)
    return GradingRecord.from_json(path.read_text()) if path.is_file() else None


def load_all(course: Course, assignment: str) -> list[GradingRecord]:
    folder = course.root / RECORDS_DIR / assignment
    return [GradingRecord.from_json(p.read_text()) for p in sorted(folder.glob("*.json"))]


def folder_sha256(folder: Path) -> str:
    """A hash of everything under ``folder``, read without following links."""
    return intake.tree_sha256(folder)


def environment(device: str) -> dict[str, str]:
    """Versions that decide a grade, and where the kernel ran."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    found["device"] = device
    return found
