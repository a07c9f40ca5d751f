"""The threshold study: measure the reference solutions over many seeds.

Each seed executes the answer key with ``AUTOGRADER_SEED`` set, and the hidden
tests record the accuracy they check (``AUTOGRADER_MEASUREMENTS``), so the study
measures exactly what grading measures. The mistake fixtures are measured too
(each threshold names its ``item``), to show that the wrong answers that get as
far as the measurement fall below it. Each threshold
is set below the worst seed by ``margin`` and written to ``thresholds.json`` with
the distribution it came from; a Markdown table goes to ``benchmarks/``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from autograder import execution, fixtures, notebooks, solutions, thresholds
from autograder.course import Course
from autograder.seeding import SEED_ENV
from autograder.settings import apply_kernel_environment

STUDIED = ("backprop", "cnn_mnist", "iris_comparison", "regression")


@dataclass
class Study:
    """Measured values per threshold key, wall times per assignment."""

    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    mistakes: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def _measure(
    course: Course, assignment: str, notebook: NotebookNode, seed: int
) -> tuple[list[tuple[str, float]], float]:
    with tempfile.TemporaryDirectory(prefix="autograder-study-") as tmp:
        workdir = Path(tmp) / assignment
        shutil.copytree(course.source_dir / assignment, workdir)
        log = Path(tmp) / "measurements.jsonl"
        apply_kernel_environment()
        os.environ[SEED_ENV] = str(seed)
        os.environ[thresholds.MEASUREMENTS_ENV] = str(log)
        try:
            seconds = execution.execute(notebook, workdir, allow_errors=True)
        finally:
            os.environ.pop(thresholds.MEASUREMENTS_ENV, None)
            os.environ.pop(SEED_ENV, None)
        lines = log.read_text().splitlines() if log.exists() else []
    found = [(entry["key"], entry["value"]) for entry in map(json.loads, lines)]
    return found, seconds


def _mistake_submissions(course: Course, assignment: str) -> list[fixtures.Submission]:
    """The answer key with the k-th mistake of every item: hidden tests included."""
    key = solutions.answer_key(course, assignment)
    source = notebooks.read(course.source_notebook(assignment))
    found = fixtures.discover(course, assignment)
    return fixtures.combined_submissions(key, source, found, "mistake")


def run_study(
    course: Course, assignments: list[str], seeds: int, say: Callable[[str], None] = print
) -> Study:
    study = Study()
    for assignment in assignments:
        key = solutions.answer_key(course, assignment)
        for seed in range(seeds):
            found, seconds = _measure(course, assignment, key, seed)
            study.seconds[assignment].append(seconds)
            for name, value in found:
                study.values[name].append(value)
            shown = ", ".join(f"{name} {value:.4f}" for name, value in found)
            say(f"{assignment} seed {seed}: {seconds:.1f} s; {shown}")
        items = {key: entry.get("item") for key, entry in thresholds.load_thresholds().items()}
        for mistakes in _mistake_submissions(course, assignment):
            mutated = {fixture.item for fixture in mistakes.applied}
            found, _ = _measure(course, assignment, mistakes.notebook, 0)
            for name, value in found:
                if items.get(name) in mutated:
                    study.mistakes[name].append(value)
    return study


def derive_thresholds(study: Study, seeds: int, margin: float) -> dict[str, dict]:
    """Each threshold: the worst seed minus ``margin``, rounded down to 0.01."""
    entries = thresholds.load_thresholds()
    today = datetime.date.today().isoformat()
    for key, values in study.values.items():
        worst = min(values)
        entries[key] = {
            **entries.get(key, {}),
            "threshold": math.floor((worst - margin) * 100) / 100,
            "margin": margin,
            "seeds": seeds,
            "min": round(worst, 4),
            "median": round(statistics.median(values), 4),
            "max": round(max(values), 4),
            "wrong_answers_max": round(max(study.mistakes[key]), 4)
            if study.mistakes.get(key)
            else None,
            "measured": f"{today}, {os.cpu_count()} CPU cores",
            "status": "measured",
        }
        times = study.seconds.get(key.split(".")[0])
        if times:
            entries[key]["wall_seconds"] = {
                "min": round(min(times), 1),
                "median": round(statistics.median(times), 1),
                "max": round(max(times), 1),
            }
    return entries


def format_table(entries: dict[str, dict]) -> str:
    """Every measured key of ``thresholds.json``, so studying one assignment keeps the others."""
    measured = {key: entry for key, entry in entries.items() if entry.get("status") == "measured"}
    lines = [
        "| threshold key | seeds | min | median | max | threshold | best wrong answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(measured):
        entry = measured[key]
        mistake = entry.get("wrong_answers_max")
        lines.append(
            f"| {key} | {entry['seeds']} | {entry['min']:.4f} | {entry['median']:.4f} | "
            f"{entry['max']:.4f} | {entry['threshold']:.2f} | "
            f"{'fails before measuring' if mistake is None else f'{mistake:.4f}'} |"
        )
    lines += [
        "",
        "| assignment | seeds | wall time per seed (min / median / max, s) | measured |",
        "|---|---|---|---|",
    ]
    walls = {key.split(".")[0]: entry for key, entry in measured.items() if "wall_seconds" in entry}
    for assignment, entry in sorted(walls.items()):
        wall = entry["wall_seconds"]
        lines.append(
            f"| {assignment} | {entry['seeds']} | {wall['min']:.1f} / {wall['median']:.1f} / "
            f"{wall['max']:.1f} | {entry['measured']} |"
        )
    return "\n".join(lines)


def write_table(course: Course, entries: dict[str, dict]) -> Path:
    """``benchmarks/thresholds.md`` from every measured entry of ``thresholds.json``."""
    table = course.root / "benchmarks" / "thresholds.md"
    table.parent.mkdir(exist_ok=True)
    table.write_text(
        "# Threshold study\n\n"
        "Reference solutions executed once per seed (`autograder thresholds`); each value is\n"
        "what the hidden test measures. Threshold = worst seed minus the margin (column\n"
        '"margin" of `autograder/thresholds.json`), rounded down.\n'
        '"best wrong answer" is the highest value a mistake fixture of the item reaches\n'
        "(seed 0); mistakes that an earlier check of the same test already rejects never\n"
        "reach the measurement.\n\n" + format_table(entries) + "\n"
    )
    return table


def write_results(course: Course, study: Study, seeds: int, margin: float) -> Path:
    entries = derive_thresholds(study, seeds, margin)
    thresholds.THRESHOLDS_FILE.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return write_table(course, entries)
