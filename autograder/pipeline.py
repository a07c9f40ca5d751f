"""Grade every submission of an assignment: isolated, in parallel, resumable.

Each submission is graded by a worker process (:mod:`autograder.worker`) against a
private copy of the SQLite gradebook; results are merged into the course gradebook
one at a time under a lock. A submission whose record matches its files is skipped,
so re-running after an interruption grades only what is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
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
from autograder.settings import Autograder, Limits, load_config
from autograder.worker import GradingRequest

KILL_GRACE_SECONDS = 120


def course_db_url(course: Course) -> str:
    return str(load_config(course).CourseDirectory.db_url)


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


def ensure_generated(course: Course, assignment: str) -> None:
    """nbgrader needs the assignment in the gradebook before it can autograde."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course_db_url(course)) as gradebook:
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
        if record.status != "graded" or record.reasons:
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

    def __init__(self, course: Course, settings: Autograder, limits: Limits) -> None:
        self.course = course
        self.settings = settings
        self.limits = limits
        self.db_url = course_db_url(course)
        self.lock = threading.Lock()
        self.local = threading.local()
        self.workers: list[WorkerProcess] = []

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
        ensure_generated(self.course, assignment)
        students = students or submitted_students(self.course, assignment)
        pending = [s for s in students if force or not is_graded(self.course, assignment, s)]
        if len(pending) < len(students):
            say(f"{len(students) - len(pending)} submission(s) already graded; resuming")
        progress = Progress(len(pending), say)
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.settings.workers)) as pool:
                futures = [pool.submit(self._grade_one, assignment, s) for s in pending]
                for future in as_completed(futures):
                    progress.update(future.result())
        finally:
            progress.close()
            self.close()
        return [
            record
            for student in students
            if (record := records.load(self.course, assignment, student)) is not None
        ]

    def _grade_one(self, assignment: str, student: str) -> records.GradingRecord:
        with tempfile.TemporaryDirectory(prefix="autograder-worker-") as tmp:
            private_db = self._private_gradebook(Path(tmp))
            request = GradingRequest(
                course_root=str(self.course.root),
                assignment=assignment,
                student=student,
                backend=self.settings.backend,
                limits=asdict(self.limits),
                seed=self.settings.seed,
                db_url=private_db or self.db_url,
                docker_image=self.settings.docker_image,
                docker_gpus=self.settings.docker_gpus,
            )
            record = self._run_worker(request, Path(tmp))
            with self.lock:
                if record.status == "graded" and private_db:
                    from autograder.gradebook_merge import copy_submission

                    copy_submission(private_db, self.db_url, assignment, student)
                records.save(self.course, record)
        return record

    def _private_gradebook(self, folder: Path) -> str | None:
        """A copy of the SQLite gradebook for one worker; None for server databases."""
        path = sqlite_path(self.db_url)
        if path is None:
            return None
        with self.lock:
            shutil.copy2(path, folder / "gradebook.db")
        return f"sqlite:///{folder / 'gradebook.db'}"

    def _run_worker(self, request: GradingRequest, folder: Path) -> records.GradingRecord:
        request_file, record_file = folder / "request.json", folder / "record.json"
        request_file.write_text(json.dumps(asdict(request)))
        limit = self.limits.submission_timeout + KILL_GRACE_SECONDS
        started = time.perf_counter()
        worker = self._worker()
        if worker.grade(request_file, record_file, limit) and record_file.is_file():
            return records.GradingRecord.from_json(record_file.read_text())
        return records.GradingRecord(
            assignment=request.assignment,
            student=request.student,
            status="error",
            wall_seconds=round(time.perf_counter() - started, 2),
            reasons=[f"crash: the grading worker stopped without a result within {limit} s"],
            error=worker.log_tail(),
            backend=request.backend,
            submission_sha256=records.folder_sha256(
                self.course.root / "submitted" / request.student / request.assignment
            ),
        )

    def _worker(self) -> WorkerProcess:
        """This thread's worker process."""
        worker = getattr(self.local, "worker", None)
        if worker is None:
            worker = self.local.worker = WorkerProcess()
            with self.lock:
                self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()


class WorkerProcess:
    """A long-lived ``autograder.worker``, restarted when it dies or is killed."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w+", prefix="autograder-worker-", suffix=".log"
        )

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "autograder.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )

    def grade(self, request_file: Path, record_file: Path, limit: float) -> bool:
        """Ask for one grading; False when the worker died or ran past ``limit``."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{request_file}\t{record_file}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], limit)
        reply = self.process.stdout.readline() if ready else ""
        if reply.strip() == f"done\t{record_file}":
            return True
        self._kill()
        return False

    def _kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-2000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._kill()
        self.process = None
        self.log.close()
