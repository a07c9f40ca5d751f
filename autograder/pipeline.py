"""Grade every submission of an assignment: isolated, in parallel, resumable.

Each submission is graded by a worker (:mod:`autograder.worker`, run by
:mod:`autograder.runners` on this machine or a Dask cluster) against a private
copy of the SQLite gradebook; results are merged into the course gradebook
one at a time under a lock. A submission whose record matches its files is skipped,
so re-running after an interruption grades only what is missing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from autograder import records
from autograder.course import Course
from autograder.nbgrader_course import ensure_tools_on_path
from autograder.runners import DaskRunner, ProcessRunner
from autograder.seeding import submission_seed
from autograder.settings import Autograder, Limits, course_db_url
from autograder.worker import GradingRequest

KILL_GRACE_SECONDS = 120


def sqlite_path(db_url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(db_url[len(prefix) :].split("?")[0]) if db_url.startswith(prefix) else None


def submitted_students(course: Course, assignment: str) -> list[str]:
    folder = course.root / "submitted"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


def is_graded(course: Course, assignment: str, student: str) -> bool:
    record = records.load(course, assignment, student)
    folder = course.root / "submitted" / student / assignment
    return record is not None and record.submission_sha256 == records.folder_sha256(folder)


def ensure_generated(course: Course, assignment: str, db_url: str) -> None:
    """nbgrader needs the assignment in the gradebook before it can autograde."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gradebook:
        try:
            gradebook.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    from autograder.nbgrader_course import NbgraderCourse

    NbgraderCourse.for_course(course).generate(assignment)


class Progress:
    """A bar on a terminal, one line per submission otherwise; counts failures."""

    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        self.total, self.done, self.failures = total, 0, 0
        self.started = time.perf_counter()
        self.say = say
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="submission", desc="grading")

    def update(self, record: records.GradingRecord) -> None:
        self.done += 1
        if record.flagged:
            self.failures += 1
        elapsed = time.perf_counter() - self.started
        if self.bar is not None:
            self.bar.set_postfix(flagged=self.failures)
            self.bar.update()
            return
        outcome = (
            f"{record.score:g}/{record.max_score:g}"
            if record.status == "graded"
            else f"ERROR ({record.reasons[0] if record.reasons else record.error})"
        )
        flags = (
            f" [{'; '.join(record.reasons)}]"
            if record.reasons and record.status == "graded"
            else ""
        )
        self.say(
            f"[{self.done}/{self.total}] {record.assignment} {record.student}: {outcome}{flags} "
            f"in {record.wall_seconds:.1f} s "
            f"(elapsed {elapsed:.0f} s, flagged so far {self.failures})"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class BatchGrader:
    """Grades submissions of one course with fixed settings and limits."""

    def __init__(
        self, course: Course, settings: Autograder, limits: Limits, scheduler: str = ""
    ) -> None:
        self.course = course
        self.settings = settings
        self.limits = limits
        self.scheduler = scheduler
        self.db_url = course_db_url(course)
        self.lock = threading.Lock()

    def backend_description(self) -> str:
        from autograder.backends import make_backend

        settings = self.settings
        return make_backend(
            settings.backend, settings.docker_image, settings.docker_gpus
        ).describe()

    def grade(
        self,
        assignment: str,
        students: list[str] | None = None,
        force: bool = False,
        say: Callable[[str], None] = print,
    ) -> list[records.GradingRecord]:
        ensure_tools_on_path()
        ensure_generated(self.course, assignment, self.db_url)
        students = students or submitted_students(self.course, assignment)
        pending = [s for s in students if force or not is_graded(self.course, assignment, s)]
        if len(pending) < len(students):
            say(f"{len(students) - len(pending)} submission(s) already graded; resuming")
        progress = Progress(len(pending), say)
        workers = max(1, self.settings.workers)
        runner = DaskRunner(self.scheduler, workers) if self.scheduler else ProcessRunner()
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(self._grade_one, runner, assignment, s) for s in pending]
                for future in as_completed(futures):
                    progress.update(future.result())
        finally:
            progress.close()
            runner.close()
        return [
            record
            for student in students
            if (record := records.load(self.course, assignment, student)) is not None
        ]

    def _grade_one(
        self, runner: ProcessRunner | DaskRunner, assignment: str, student: str
    ) -> records.GradingRecord:
        # On a cluster the private gradebook must be where every worker can read it.
        scratch = self.course.root / ".grading-scratch" if self.scheduler else None
        if scratch is not None:
            scratch.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="autograder-worker-", dir=scratch) as tmp:
            private_db = self._private_gradebook(Path(tmp))
            request = GradingRequest(
                course_root=str(self.course.root),
                assignment=assignment,
                student=student,
                backend=self.settings.backend,
                limits=asdict(self.limits),
                seed=self._seed(assignment, student),
                db_url=private_db or self.db_url,
                docker_image=self.settings.docker_image,
                docker_gpus=self.settings.docker_gpus,
            )
            record = self._run(runner, request, Path(tmp))
            with self.lock:
                if record.status == "graded" and private_db:
                    from autograder.gradebook_merge import copy_submission

                    copy_submission(private_db, self.db_url, assignment, student)
                records.save(self.course, record)
        return record

    def _seed(self, assignment: str, student: str) -> int:
        """The seed a regrade reuses from the record, else the submission's own."""
        previous = records.load(self.course, assignment, student)
        if previous is not None and previous.status == "graded":
            return previous.seed
        return submission_seed(self.settings.seed, assignment, student)

    def _private_gradebook(self, folder: Path) -> str | None:
        """A copy of the SQLite gradebook for one worker; None for server databases."""
        path = sqlite_path(self.db_url)
        if path is None:
            return None
        with self.lock:
            shutil.copy2(path, folder / "gradebook.db")
        return f"sqlite:///{folder / 'gradebook.db'}"

    def _run(
        self, runner: ProcessRunner | DaskRunner, request: GradingRequest, folder: Path
    ) -> records.GradingRecord:
        limit = self.limits.submission_timeout + KILL_GRACE_SECONDS
        started = time.perf_counter()
        record = runner.run(request, folder, limit)
        if record is not None:
            return record
        return records.GradingRecord(
            assignment=request.assignment,
            student=request.student,
            status="error",
            wall_seconds=round(time.perf_counter() - started, 2),
            reasons=[f"crash: the grading worker stopped without a result within {limit} s"],
            error=runner.failure_log(),
            backend=request.backend,
            submission_sha256=records.folder_sha256(
                self.course.root / "submitted" / request.student / request.assignment
            ),
        )
