"""Where grading requests run: long-lived local worker processes, or a Dask cluster.

Both take a :class:`GradingRequest` and give back a record, or ``None`` when no
result came within the hard limit (the batch then records an error and goes on).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

import autograder
from autograder import records
from autograder.worker import GradingRequest


class ProcessRunner:
    """One long-lived ``autograder.worker`` process per grading thread."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.lock = threading.Lock()
        self.workers: list[WorkerProcess] = []

    def run(
        self, request: GradingRequest, folder: Path, limit: float
    ) -> records.GradingRecord | None:
        request_file, record_file = folder / "request.json", folder / "record.json"
        request_file.write_text(json.dumps(asdict(request)))
        worker = self._worker()
        if worker.grade(request_file, record_file, limit) and record_file.is_file():
            return records.GradingRecord.from_json(record_file.read_text())
        if request.backend == "docker" and worker.killed_pid is not None:
            # A killed worker's kernel containers outlive their docker clients.
            from autograder.docker_backend import WORKER_LABEL, remove_containers

            remove_containers(WORKER_LABEL, str(worker.killed_pid))
        return None

    def failure_log(self) -> str:
        return self._worker().log_tail()

    def _worker(self) -> WorkerProcess:
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


class DaskRunner:
    """Requests run on a Dask cluster whose workers share the course folder.

    Workers must run one task at a time (``--nthreads 1``): grading sets
    environment variables for the kernel it starts.
    """

    def __init__(self, scheduler: str, workers: int) -> None:
        from dask.distributed import Client, LocalCluster

        self.cluster = None
        if scheduler == "local":
            self.cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self.client = Client(self.cluster)
        else:
            self.client = Client(scheduler)

    def run(
        self, request: GradingRequest, folder: Path, limit: float
    ) -> records.GradingRecord | None:
        from dask.distributed import TimeoutError as DaskTimeoutError

        from autograder.worker import grade_request

        future = self.client.submit(grade_request, asdict(request), pure=False)
        try:
            return records.GradingRecord(**future.result(timeout=limit))
        except DaskTimeoutError:
            future.cancel()
            return None

    def failure_log(self) -> str:
        return "no result from the Dask cluster within the limit"

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


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

    def grade(self, request_file: Path, record_file: Path, limit: float) -> bool:
        """Ask for one grading; False when the worker died or ran past ``limit``."""
        self.killed_pid = None
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
