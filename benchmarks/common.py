"""Helpers the benchmark scripts share: scratch courses, submissions, timed grading runs.

Imported by ``run.py``, ``docker_overhead.py`` and ``scale.py`` (each run as a script
from this folder, so ``from common import ...``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from nbformat import NotebookNode

from autograder import execution, fixtures, notebooks, records, release
from autograder.course import Course
from autograder.nbgrader_course import NbgraderCourse
from autograder.pipeline import BatchGrader
from autograder.settings import limits_from, load_settings


def released_notebooks(
    course: Course, assignment: str, workdir: Path
) -> tuple[str, NotebookNode, NotebookNode]:
    """The notebook's file name, its release (as students get it) and its source."""
    released_dir = release.generate_release(course, assignment, workdir / "release-build")
    name = course.source_notebook(assignment).name
    source = notebooks.read(course.source_notebook(assignment))
    return name, notebooks.read(released_dir / name), source


def solution_submission(course: Course, assignment: str, workdir: Path) -> tuple[str, NotebookNode]:
    """The notebook's file name and the solution as a student would submit it."""
    name, released, source = released_notebooks(course, assignment, workdir)
    return name, fixtures.reference_submissions(released, source)[0].notebook


def scratch_course(course: Course, assignment: str, root: Path) -> Course:
    """A course at ``root`` with only ``assignment``, generated (the gradebook knows it)."""
    (root / "source").mkdir(parents=True)
    shutil.copytree(course.source_dir / assignment, root / "source" / assignment)
    shutil.copy(course.config_file, root)
    scratch = Course(root)
    NbgraderCourse.for_course(scratch).generate(assignment)
    return scratch


def submit(
    scratch: Course, assignment: str, student: str, name: str, notebook: NotebookNode
) -> None:
    notebooks.write(notebook, scratch.root / "submitted" / student / assignment / name)


def grade_batch(
    scratch: Course,
    assignment: str,
    workers: int,
    backend: str = "sandbox",
    scheduler: str = "",
    full_marks: bool = True,
) -> tuple[float, list[records.GradingRecord]]:
    """Wall seconds of ``autograder grade`` (every submission, forced) and its records.

    With ``full_marks`` every submission must be graded with every point (copies of
    the solution); ``scheduler`` is a Dask scheduler's address.
    """
    settings = load_settings(scratch, backend=backend, workers=workers)
    grader = BatchGrader(scratch, settings, limits_from(scratch, settings), scheduler=scheduler)
    started = time.perf_counter()
    graded = grader.grade(assignment, force=True, say=lambda line: None)
    seconds = time.perf_counter() - started
    if full_marks:
        assert all(r.status == "graded" and not r.reasons for r in graded), [
            r.error for r in graded
        ]
        assert all(r.score == r.max_score for r in graded), [(r.score, r.max_score) for r in graded]
    return seconds, graded


def nbgrader_autograde(scratch: Course, assignment: str) -> tuple[float, int, list[str]]:
    """Wall seconds, exit status and failed students of plain ``nbgrader autograde --force``.

    nbgrader exits 1 when any submission failed; its log names them.
    """
    started = time.perf_counter()
    done = subprocess.run(
        ["nbgrader", "autograde", assignment, "--force"],
        cwd=scratch.root,
        check=False,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    failed = re.findall(
        r"There was an error processing assignment '[^']*' for student '([^']+)'",
        done.stdout + done.stderr,
    )
    return seconds, done.returncode, sorted(set(failed))


def plain_run(course: Course, assignment: str, key: NotebookNode, workdir: Path) -> float:
    """Seconds nbclient takes to run ``key`` in a fresh copy of the assignment folder."""
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(course.source_dir / assignment, workdir)
    return execution.execute(key, workdir)
