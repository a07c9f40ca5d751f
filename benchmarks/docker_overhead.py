"""Grading per submission in containers against the sandbox, same run (not a test).

A batch of copies of an assignment's solution is graded with one worker by the sandbox
and by the docker back end, in alternating rounds so that machine noise hits both
alike; per submission is the worker's wall time (sanitise, start the kernel, execute,
score, clean up). Target: docker within 1.3x of the sandbox for forward_pass. Needs a
Docker engine and a current image (``make docker-engine image-local``). Usage:
``python benchmarks/docker_overhead.py [--assignment A] [--submissions N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

from common import grade_batch, scratch_course, solution_submission, submit

from autograder.course import Course
from autograder.images import CPU_IMAGE, require_current_image
from autograder.nbgrader_course import ensure_tools_on_path
from autograder.settings import apply_kernel_environment

TARGET_RATIO = 1.3
BACKENDS = ("sandbox", "docker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="forward_pass")
    parser.add_argument("--submissions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from sqlalchemy.exc import SAWarning

    # nbgrader's gradebook code triggers these; they say nothing about the timings.
    warnings.filterwarnings("ignore", category=SAWarning)
    ensure_tools_on_path()
    apply_kernel_environment()
    require_current_image(CPU_IMAGE)
    course = Course.find()
    print(f"machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}")
    per_submission: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    batches: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    with tempfile.TemporaryDirectory() as tmp:
        name, notebook = solution_submission(course, args.assignment, Path(tmp))
        scratch = scratch_course(course, args.assignment, Path(tmp) / "course")
        for index in range(args.submissions):
            submit(scratch, args.assignment, f"solution-{index}", name, notebook)
        for _ in range(args.rounds):
            for backend in BACKENDS:
                seconds, graded = grade_batch(scratch, args.assignment, 1, backend)
                batches[backend].append(seconds / args.submissions)
                per_submission[backend] += [r.wall_seconds for r in graded]
    print(
        f"\n## {args.assignment}: {args.submissions} solutions x {args.rounds} rounds, "
        "1 worker, sandbox and docker alternating\n"
    )
    print("| back end | per submission, median (s) | min (s) | max (s) | batch / n (s) |")
    print("|---|---|---|---|---|")
    for backend in BACKENDS:
        times = per_submission[backend]
        print(
            f"| {backend} | {statistics.median(times):.2f} | {min(times):.2f} | "
            f"{max(times):.2f} | {statistics.median(batches[backend]):.2f} |"
        )
    ratio = statistics.median(per_submission["docker"]) / statistics.median(
        per_submission["sandbox"]
    )
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"\ndocker / sandbox per submission: {ratio:.2f} (target <= {TARGET_RATIO}: {verdict})")


if __name__ == "__main__":
    main()
