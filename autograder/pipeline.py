"""Grade every submission of an assignment: isolated, in parallel, resumable.

Each submission is packed into a task that carries its files as data
(:mod:`autograder.grading_task`) and graded by a worker (local processes or a Dask
cluster, :mod:`autograder.runners`) in a private temporary course with a gradebook
holding only the assignment; the graded folder comes back and the grades are merged
into the course gradebook one at a time under a lock, so workers need no folder
shared with the course. A submission whose record was made from its current
files with the current tests, seed, limits and back end is skipped, so re-running
after an interruption grades only what is missing, and after a fix of a test,
everything that test scored.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from autograder import deadlines, gradebook_tests, intake, notebooks, records
from autograder.course import Course
from autograder.course_lock import grading_lock
from autograder.errors import CourseError
from autograder.grading_task import (
    GradingOutcome,
    GradingTask,
    assignment_files,
    replace_folder,
    submission_files,
)
from autograder.nbgrader_course import ensure_tools_on_path
from autograder.runners import ClusterLost, DaskRunner, NoResult, ProcessRunner
from autograder.seeding import submission_seed
from autograder.settings import Autograder, Limits, course_db_url, sqlite_path
from autograder.worker import GradingRequest

KILL_GRACE_SECONDS = 120
# nbgrader's tables that hold students and what they submitted.
_STUDENT_TABLES = ("grade", "comment", "submitted_notebook", "submitted_assignment", "student")


def submitted_students(course: Course, assignment: str) -> list[str]:
    folder = course.root / "submitted"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir())


@dataclass(frozen=True)
class Grading:
    """What a grade made now would be made with; a record made otherwise is stale."""

    tests_sha256: str
    course_seed: int
    limits: dict
    backend: str
    image: str | None

    def stale_reason(self, course: Course, assignment: str, student: str) -> str | None:
        """Why ``student``'s record does not stand for a grade made now; None if it does."""
        record = records.load(course, assignment, student)
        if record is None:
            return "not graded yet"
        folder = course.root / "submitted" / student / assignment
        checks = [
            (record.status == "graded", "the last grading failed"),
            (record.submission_sha256 == records.folder_sha256(folder), "the submission changed"),
            (record.tests_sha256 == self.tests_sha256, "the tests changed"),
            (record.seed == submission_seed(self.course_seed, assignment, student), "new seed"),
            (_grading_limits(record.limits) == self.limits, "the limits changed"),
            ((record.backend, record.image) == (self.backend, self.image), "new back end"),
        ]
        return next((reason for current, reason in checks if not current), None)


def _grading_limits(limits: dict) -> dict:
    """The limits that can change a grade: thread counts follow ``--workers`` and change
    only the speed."""
    return {name: value for name, value in limits.items() if name != "threads"}


def _memory_folder() -> Path | None:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def plan_line(assignment: str, why: dict[str, str | None]) -> str:
    """What a run will grade and why, in one line."""
    reasons = Counter(reason for reason in why.values() if reason is not None)
    current = sum(reason is None for reason in why.values())
    told = ", ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    return (
        f"{assignment}: {sum(reasons.values())} to grade{f' ({told})' if told else ''}, "
        f"{current} already graded and current"
    )


def summary(assignment: str, graded_now: list[records.GradingRecord], skipped: int) -> str:
    """The closing table of a run: graded now, failed, skipped."""
    failed = sorted((r for r in graded_now if r.status != "graded"), key=lambda r: r.student)
    rows = [
        f"summary of {assignment}:",
        f"  graded now  {len(graded_now) - len(failed):>4}",
        f"  failed      {len(failed):>4}",
        f"  skipped     {skipped:>4}  (graded before, with the current tests and settings)",
    ]
    for record in failed:
        lines = (record.error or "").strip().splitlines()
        reason = record.reasons[0] if record.reasons else (lines[-1] if lines else "no record")
        rows.append(f"    failed: {record.student}: {reason}")
    return "\n".join(rows)


class Progress:
    """A bar on a terminal, one line per submission otherwise: done / total, submissions
    flagged so far, and the time left at the pace so far."""

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
        remaining = (self.total - self.done) * elapsed / self.done
        self.say(
            f"[{self.done}/{self.total}] {record.assignment} {record.student}: {outcome}{flags} "
            f"in {record.wall_seconds:.1f} s "
            f"(elapsed {elapsed:.0f} s, about {remaining:.0f} s left, "
            f"flagged so far {self.failures})"
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

    def current_grading(self, assignment: str) -> Grading:
        tests = gradebook_tests.source_tests(self.course, assignment)
        docker = self.settings.backend == "docker"
        return Grading(
            tests_sha256=gradebook_tests.digest(tests),
            course_seed=self.settings.seed,
            limits=_grading_limits(asdict(self.limits)),
            backend=self.backend_description(),
            image=self.settings.docker_image if docker else None,
        )

    def grade(
        self,
        assignment: str,
        students: list[str] | None = None,
        force: bool = False,
        say: Callable[[str], None] = print,
    ) -> list[records.GradingRecord]:
        """Grade the submissions whose records are stale (all with ``force``); returns
        the records of ``students`` (everyone who submitted by default)."""
        ensure_tools_on_path()
        with grading_lock(self.course, say):
            return self._grade(assignment, students, force, say)

    def _grade(
        self,
        assignment: str,
        students: list[str] | None,
        force: bool,
        say: Callable[[str], None],
    ) -> list[records.GradingRecord]:
        if gradebook_tests.sync_gradebook(self.course, assignment, self.db_url) == "updated":
            say(f"the tests of {assignment} changed: the gradebook now scores with source/")
        grading = self.current_grading(assignment)
        students = students or submitted_students(self.course, assignment)
        why = {
            student: "regrade asked"
            if force
            else grading.stale_reason(self.course, assignment, student)
            for student in students
        }
        pending = [student for student in students if why[student] is not None]
        say(plan_line(assignment, why))
        if pending:
            self._refuse_without_process_limit()
            # Containers start where kernels run: here, unless a remote cluster grades.
            if self.settings.backend == "docker" and self.scheduler in ("", "local"):
                from autograder.images import require_current_image

                require_current_image(self.settings.docker_image)
        progress = Progress(len(pending), say)
        runner = (
            DaskRunner(self.scheduler, self.settings.workers)
            if self.scheduler
            else ProcessRunner(max(1, self.settings.workers))
        )
        graded_now: list[records.GradingRecord] = []
        lost: list[ClusterLost] = []
        try:
            shared = self._shared_task_parts(assignment) if pending else None
            with ThreadPoolExecutor(max_workers=runner.concurrency) as pool:
                futures = [
                    pool.submit(self._grade_one, runner, shared, student, lost)
                    for student in pending
                ]
                for future in as_completed(futures):
                    record = future.result()
                    if record is not None:
                        graded_now.append(record)
                        progress.update(record)
        finally:
            progress.close()
            runner.close()
        say(summary(assignment, graded_now, skipped=len(students) - len(pending)))
        lateness = deadlines.apply(self.course, assignment)
        if late := [entry for entry in lateness.values() if entry.late]:
            say(f"{assignment}: {len(late)} late submission(s), penalised by the late policy")
        if lost:
            raise CourseError(
                f"{lost[0]}: grading of {assignment} stopped with "
                f"{len(pending) - len(graded_now)} of {len(pending)} submissions not graded; "
                "everything graded is saved, and grading again grades only the rest"
            )
        return [
            record
            for student in students
            if (record := records.load(self.course, assignment, student)) is not None
        ]

    def _refuse_without_process_limit(self) -> None:
        """Refuse the whole batch up front when its sandboxes would get no process limit.

        Kernels start on this machine unless a Dask cluster grades; there each
        sandbox refuses on its own (``autograder.confine``).
        """
        if self.settings.backend != "sandbox" or self.scheduler:
            return
        from autograder.confine import process_limit_problem

        problem = process_limit_problem(self.limits.max_processes)
        if problem is not None:
            raise CourseError(f"the sandbox back end cannot grade on this machine: {problem}")

    def _shared_task_parts(self, assignment: str) -> GradingTask:
        """What every task of the batch carries; each gets a copy with its student's parts."""
        source = notebooks.read(self.course.source_notebook(assignment))
        request = GradingRequest(
            course_root="",  # set where the task is unpacked
            assignment=assignment,
            student="",
            backend=self.settings.backend,
            limits=asdict(self.limits),
            seed=0,
            # A server database is written by the workers; SQLite travels in the task.
            db_url="" if sqlite_path(self.db_url) else self.db_url,
            docker_image=self.settings.docker_image,
            docker_gpus=self.settings.docker_gpus,
            manual_items=[item.name for item in notebooks.items(source) if item.manual],
        )
        return GradingTask(
            request=request,
            files=assignment_files(self.course, assignment),
            gradebook=self._gradebook_template(),
        )

    def _grade_one(
        self,
        runner: ProcessRunner | DaskRunner,
        shared: GradingTask,
        student: str,
        lost: list[ClusterLost],
    ) -> records.GradingRecord | None:
        """Grade one submission and save its results; None once the cluster is lost."""
        if lost:
            return None
        assignment = shared.request.assignment
        submission = self.course.root / "submitted" / student / assignment
        submission_sha256 = records.folder_sha256(submission)
        # In memory where there is a tmpfs: the task's files are written and read back.
        with tempfile.TemporaryDirectory(prefix="autograder-task-", dir=_memory_folder()) as tmp:
            folder = Path(tmp)
            try:
                intake.require_plain_folder(submission, self.course.root / "submitted")
                dropped = intake.checked_copy(submission, folder / "submission")
            except intake.UnsafeFolder as error:
                record = self._error_record(assignment, student, f"invalid submission: {error}")
                outcome = None
            else:
                seed = submission_seed(self.settings.seed, assignment, student)
                task = replace(
                    shared,
                    request=replace(shared.request, student=student, seed=seed),
                    files={
                        **shared.files,
                        **submission_files(assignment, student, folder / "submission"),
                    },
                    dropped=dropped,
                )
                try:
                    record, outcome = self._run(runner, task, folder)
                except ClusterLost as error:
                    lost.append(error)
                    return None
            record.submission_sha256 = submission_sha256
            with self.lock:
                if outcome is not None and record.status == "graded":
                    self._keep_results(record, outcome, folder)
                records.save(self.course, record)
        return record

    def _keep_results(
        self, record: records.GradingRecord, outcome: GradingOutcome, folder: Path
    ) -> None:
        """The graded folder into ``autograded/``, the grades into the course gradebook."""
        replace_folder(
            self.course.root / "autograded" / record.student / record.assignment,
            outcome.autograded,
        )
        if outcome.gradebook:
            from autograder.gradebook_merge import merge_submission

            private = folder / "graded-gradebook.db"
            private.write_bytes(outcome.gradebook)
            merge_submission(f"sqlite:///{private}", self.db_url, record.assignment, record.student)

    def _gradebook_template(self) -> bytes:
        """The course's SQLite gradebook with no student in it; empty for a server database.

        Every task carries it: a worker sees the assignment's cells and tests, and no
        other student's grades.
        """
        path = sqlite_path(self.db_url)
        if path is None:
            return b""
        with tempfile.TemporaryDirectory(prefix="autograder-template-") as tmp:
            copy_path = Path(tmp) / "gradebook.db"
            # SQLite's backup API: a consistent copy even while formgrader writes.
            with (
                closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as source,
                closing(sqlite3.connect(copy_path)) as copy,
            ):
                source.backup(copy)
                copy.executescript(
                    "".join(f"DELETE FROM {table};" for table in _STUDENT_TABLES) + "VACUUM;"
                )
            return copy_path.read_bytes()

    def _run(
        self, runner: ProcessRunner | DaskRunner, task: GradingTask, folder: Path
    ) -> tuple[records.GradingRecord, GradingOutcome | None]:
        limit = self.limits.submission_timeout + KILL_GRACE_SECONDS
        started = time.perf_counter()
        request = task.request
        try:
            outcome = runner.run(task, folder, limit)
        except NoResult as failure:
            record = self._error_record(
                request.assignment, request.student, f"crash: {failure.reason}"
            )
            record.wall_seconds = round(time.perf_counter() - started, 2)
            record.backend, record.error = request.backend, failure.log
            return record, None
        try:
            return records.GradingRecord(**outcome.record), outcome
        except TypeError as error:
            reason = (
                "crash: the worker's record does not fit this grader: install the same "
                f"version of the package on the workers ({error})"
            )
            return self._error_record(request.assignment, request.student, reason), None

    @staticmethod
    def _error_record(assignment: str, student: str, reason: str) -> records.GradingRecord:
        return records.GradingRecord(
            assignment=assignment, student=student, status="error", error=reason, reasons=[reason]
        )
