"""Timings of the course and of grading, printed as tables (not a test).

1. Execution time of each answer key on this machine, imports included (target: each
   under 120 s, the whole course under 5 minutes).
2. Grading overhead per assignment: ``autograder grade`` of the solution (sandbox,
   one worker) divided by a plain nbclient run of the same notebook (target <= 1.10).
3. Twenty forward_pass submissions: ``autograder grade`` with 1 and 2 workers and
   plain sequential ``nbgrader autograde``, in alternating rounds (target: 2 workers
   >= 1.8x nbgrader).

Measurements of one comparison alternate in the same run, so machine noise hits
both sides alike. Usage: ``python benchmarks/run.py [--repeats N] [--skip-notebooks]
[--skip-overhead] [--skip-throughput] [--assignment A ...]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import (
    grade_batch,
    nbgrader_autograde,
    plain_run,
    scratch_course,
    solution_submission,
    submit,
)

from autograder import solutions
from autograder.course import Course
from autograder.nbgrader_course import ensure_tools_on_path
from autograder.settings import apply_kernel_environment

NOTEBOOK_TARGET_S = 120
COURSE_TARGET_S = 300


def notebook_times(course: Course, assignments: list[str], repeats: int) -> None:
    print("\n## Answer keys executed with nbclient (imports included)\n")
    print("| assignment | runs | min (s) | median (s) | max (s) | target (s) | met |")
    print("|---|---|---|---|---|---|---|")
    medians = []
    for assignment in assignments:
        key = solutions.answer_key(course, assignment)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp) / assignment
            times = [plain_run(course, assignment, key, workdir) for _ in range(repeats)]
        medians.append(statistics.median(times))
        print(
            f"| {assignment} | {repeats} | {min(times):.1f} | {medians[-1]:.1f} | "
            f"{max(times):.1f} | {NOTEBOOK_TARGET_S} | {_met(max(times), NOTEBOOK_TARGET_S)} |"
        )
    total = sum(medians)
    print(
        f"| **whole course** (sum of medians) | | | {total:.1f} | | {COURSE_TARGET_S} | "
        f"{_met(total, COURSE_TARGET_S)} |"
    )


def _met(seconds: float, target: float) -> str:
    return "yes" if seconds < target else "NO"


def overhead(course: Course, assignments: list[str], repeats: int) -> None:
    print("\n## Grading overhead: autograder grade (sandbox, 1 worker) / plain nbclient\n")
    print("Plain: nbclient runs the answer key (solutions and hidden tests, as grading runs")
    print("them), half of the runs before the batch and half after.")
    print(f"Grade: a batch of {repeats} copies of the solution; per submission is the")
    print("worker's time (sanitise, sandboxed kernel, execute, score); batch is the whole")
    print("command divided by the number of submissions (worker start-up included).\n")
    print(
        "| assignment | nbclient (s) | grade, per submission (s) | ratio | batch / n (s) | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for assignment in assignments:
        with tempfile.TemporaryDirectory() as tmp:
            name, notebook = solution_submission(course, assignment, Path(tmp))
            scratch = scratch_course(course, assignment, Path(tmp) / "course")
            for index in range(repeats):
                submit(scratch, assignment, f"solution-{index}", name, notebook)
            key = solutions.answer_key(course, assignment)
            workdir = Path(tmp) / "plain" / assignment
            before = (repeats + 1) // 2
            plain = [plain_run(course, assignment, key, workdir) for _ in range(before)]
            batch, graded = grade_batch(scratch, assignment, workers=1)
            plain += [plain_run(course, assignment, key, workdir) for _ in range(repeats - before)]
        per_submission = statistics.median(r.wall_seconds for r in graded)
        reference = statistics.median(plain)
        print(
            f"| {assignment} | {reference:.1f} | {per_submission:.1f} | "
            f"{per_submission / reference:.2f} | {batch / repeats:.1f} | "
            f"{batch / repeats / reference:.2f} |"
        )


def throughput(course: Course, count: int, rounds: int) -> None:
    assignment = "forward_pass"
    print(f"\n## {count} {assignment} submissions, {rounds} round(s)\n")
    runs: dict[str, list[float]] = {"nbgrader": [], "1 worker": [], "2 workers": []}
    with tempfile.TemporaryDirectory() as tmp:
        name, notebook = solution_submission(course, assignment, Path(tmp))
        scratch = scratch_course(course, assignment, Path(tmp) / "course")
        for index in range(count):
            submit(scratch, assignment, f"student-{index:02d}", name, notebook)
        for _ in range(rounds):
            seconds, status, failed = nbgrader_autograde(scratch, assignment)
            assert status == 0, f"nbgrader autograde exited with {status}; failed: {failed}"
            runs["nbgrader"].append(seconds)
            runs["1 worker"].append(grade_batch(scratch, assignment, workers=1)[0])
            runs["2 workers"].append(grade_batch(scratch, assignment, workers=2)[0])
    print("| run | wall per round (s) | median (s) | speed-up over nbgrader (median) |")
    print("|---|---|---|---|")
    reference = statistics.median(runs["nbgrader"])
    for label, seconds in runs.items():
        title = (
            "nbgrader autograde (sequential)"
            if label == "nbgrader"
            else f"autograder grade, {label}"
        )
        median = statistics.median(seconds)
        each = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"| {title} | {each} | {median:.1f} | {reference / median:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--assignment", action="append", help="Time only these (repeatable); all by default."
    )
    args = parser.parse_args()
    ensure_tools_on_path()
    apply_kernel_environment()
    course = Course.find()
    assignments = course.resolve_assignments(tuple(args.assignment or ()), not args.assignment)
    print(f"machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}")
    if not args.skip_notebooks:
        notebook_times(course, assignments, args.repeats)
    if not args.skip_overhead:
        overhead(course, assignments, args.repeats)
    if not args.skip_throughput:
        throughput(course, args.submissions, args.repeats)


if __name__ == "__main__":
    main()
