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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import execution, fixtures, notebooks, release, solutions
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse, ensure_tools_on_path
from autograder.pipeline import BatchGrader
from autograder.settings import apply_kernel_environment, limits_from, load_settings

NOTEBOOK_TARGET_S = 120
COURSE_TARGET_S = 300


def solution_submission(course: Course, assignment: str, workdir: Path):
    released_dir = release.generate_release(course, assignment, workdir / "release-build")
    name = course.source_notebook(assignment).name
    released = notebooks.read(released_dir / name)
    source = notebooks.read(course.source_notebook(assignment))
    return name, fixtures.reference_submissions(released, source)[0].notebook


def scratch_course(course: Course, assignment: str, root: Path) -> Course:
    (root / "source").mkdir(parents=True)
    shutil.copytree(course.source_dir / assignment, root / "source" / assignment)
    shutil.copy(course.config_file, root)
    scratch = Course(root)
    NbgraderCourse.for_course(scratch).generate(assignment)
    return scratch


def submit(scratch: Course, assignment: str, student: str, name: str, notebook) -> None:
    notebooks.write(notebook, scratch.root / "submitted" / student / assignment / name)


def grade_batch(scratch: Course, assignment: str, workers: int, backend: str = "sandbox"):
    """Wall seconds of ``autograder grade`` and its records."""
    settings = load_settings(scratch, backend=backend, workers=workers)
    grader = BatchGrader(scratch, settings, limits_from(scratch, settings))
    started = time.perf_counter()
    graded = grader.grade(assignment, force=True, say=lambda line: None)
    seconds = time.perf_counter() - started
    assert all(r.status == "graded" and not r.reasons for r in graded), [r.error for r in graded]
    assert all(r.score == r.max_score for r in graded), [(r.score, r.max_score) for r in graded]
    return seconds, graded


def plain_run(course: Course, assignment: str, key, workdir: Path) -> float:
    """Seconds nbclient takes to run ``key`` in a fresh copy of the assignment folder."""
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(course.source_dir / assignment, workdir)
    return execution.execute(key, workdir)


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
            started = time.perf_counter()
            subprocess.run(
                ["nbgrader", "autograde", assignment, "--force"],
                cwd=scratch.root,
                check=True,
                capture_output=True,
            )
            runs["nbgrader"].append(time.perf_counter() - started)
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
