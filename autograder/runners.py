"""Where grading tasks run: long-lived local worker processes, or a Dask cluster.

Both take a :class:`GradingTask` and give back its :class:`GradingOutcome`, or raise
:class:`NoResult` with the reason when none came (the batch then records an error
and goes on). Losing the Dask scheduler raises :class:`ClusterLost`: the batch stops,
and a re-run grades what is missing.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import traceback
import uuid
from pathlib import Path

import autograder
from autograder.dask_settings import GRADING_CLUSTER_CONFIG
from autograder.errors import CourseError
from autograder.grading_task import (
    GradingOutcome,
    GradingTask,
    outcome_from_json,
    run_task,
    task_to_json,
)

# How long a batch waits for a cluster with no worker before it stops.
WORKERS_WAIT_SECONDS = 60


class NoResult(Exception):
    """No outcome came for a task: the reason for the record, and a log to go with it."""

    def __init__(self, reason: str, log: str = "") -> None:
        super().__init__(reason)
        self.reason, self.log = reason, log


class ClusterLost(CourseError):
    """The Dask scheduler went away: no further task can run in this batch."""


class ProcessRunner:
    """``workers`` long-lived ``autograder.worker`` processes, each grading one task at a time.

    Twice as many tasks as workers are under way: one is packed, or merged, while the
    workers grade, so a worker never waits for the grading side between submissions.
    """

    def __init__(self, workers: int) -> None:
        self.concurrency = 2 * workers
        self.workers = [WorkerProcess() for _ in range(workers)]
        self.idle: queue.SimpleQueue[WorkerProcess] = queue.SimpleQueue()
        for worker in self.workers:
            self.idle.put(worker)

    def run(self, task: GradingTask, folder: Path, limit: float) -> GradingOutcome:
        task_file, outcome_file = folder / "task.json", folder / "outcome.json"
        task_file.write_text(task_to_json(task))
        worker = self.idle.get()
        try:
            if worker.grade(task_file, outcome_file, limit) and outcome_file.is_file():
                return outcome_from_json(outcome_file.read_text())
            killed, log = worker.killed_pid, worker.log_tail()
        finally:
            self.idle.put(worker)
        if task.request.backend == "docker" and killed is not None:
            # A killed worker's kernel containers outlive their docker clients.
            from autograder.docker_backend import WORKER_LABEL, remove_containers

            remove_containers(WORKER_LABEL, str(killed))
        raise NoResult(f"the grading worker stopped without a result within {limit:g} s", log)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()


class DaskRunner:
    """Tasks run on a Dask cluster: ``local`` (a LocalCluster of ``workers`` processes)
    or a scheduler's address.

    Workers share no folder with the course, and must run one task at a time
    (``--nthreads 1``): grading sets environment variables for the kernel it starts.
    A task whose worker dies is retried by the scheduler on another worker, up to
    its ``distributed.scheduler.allowed-failures``, then recorded as an error.
    """

    def __init__(self, scheduler: str, workers: int) -> None:
        import dask
        from dask.distributed import Client, LocalCluster

        self.cluster = None
        self.scheduler = scheduler
        if scheduler == "local":
            with dask.config.set(GRADING_CLUSTER_CONFIG):
                self.cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=WORKERS_WAIT_SECONDS)
            except OSError as error:
                raise ClusterLost(f"no Dask scheduler answers at {scheduler}: {error}") from error
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_WAIT_SECONDS)
        except TimeoutError as error:
            self.close()
            raise ClusterLost(
                f"the Dask scheduler at {scheduler} has had no worker for "
                f"{WORKERS_WAIT_SECONDS} s: start workers, then grade again"
            ) from error
        self.allowed_failures = int(
            self.client.run_on_scheduler(_allowed_failures)  # type: ignore[arg-type]
        )
        # One task per worker thread at a time: a task never waits in a queue, so
        # its limit counts grading only (twice as many was no faster: 3.65 against
        # 3.55 s per forward_pass submission, 50 students, one run each).
        self.concurrency = max(workers, sum(self.client.nthreads().values()))

    def run(self, task: GradingTask, folder: Path, limit: float) -> GradingOutcome:
        from dask.distributed import TimeoutError as DaskTimeoutError
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        request = task.request
        key = f"grade-{request.assignment}-{request.student}-{uuid.uuid4().hex[:8]}"
        try:
            future = self.client.submit(run_task, task, key=key, pure=False, retries=0)
        except Exception as error:
            raise self._lost(error) from error
        # A worker that dies mid-task makes the scheduler start the task again.
        attempts = self.allowed_failures + 1
        try:
            return future.result(timeout=limit * attempts)
        except DaskTimeoutError as error:
            future.cancel()
            raise NoResult(
                f"no result from the Dask cluster within {limit * attempts:g} s"
            ) from error
        except KilledWorker as error:
            raise NoResult(
                f"the Dask workers grading it died {attempts} times (the scheduler's "
                f"allowed-failures is {self.allowed_failures})",
                str(error),
            ) from error
        except FutureCancelledError as error:
            raise self._lost(error) from error
        except Exception as error:  # the task itself failed on its worker
            raise NoResult(
                f"the grading task failed on its Dask worker: {error!r}",
                "".join(traceback.format_exception(error)),
            ) from error

    def _lost(self, error: BaseException) -> ClusterLost:
        return ClusterLost(
            f"the connection to the Dask scheduler at {self.scheduler} was lost ({error})"
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _allowed_failures(dask_scheduler) -> int:
    return dask_scheduler.allowed_failures


class WorkerProcess:
    """A long-lived ``autograder.worker``, restarted when it dies or is killed."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.killed_pid: int | None = None  # the last worker killed, until the next one
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w+", prefix="autograder-worker-", suffix=".log"
        )

    def _start(self) -> subprocess.Popen:
        # The worker imports this very package: never one that the folder it was
        # started from (a course folder may hold an ``autograder/`` of its own) shadows.
        package_root = str(Path(autograder.__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "autograder.worker"],
            env={**os.environ, "PYTHONPATH": path},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )

    def grade(self, task_file: Path, outcome_file: Path, limit: float) -> bool:
        """Ask for one grading; False when the worker died or ran past ``limit``."""
        self.killed_pid = None
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{task_file}\t{outcome_file}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], limit)
        reply = self.process.stdout.readline() if ready else ""
        if reply.strip() == f"done\t{outcome_file}":
            return True
        self._kill()
        return False

    def _kill(self) -> None:
        if self.process is not None:
            self.killed_pid = self.process.pid
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
