"""A real Dask cluster on this machine: ``dask scheduler`` and ``dask worker`` processes.

Not a LocalCluster: the scheduler and each worker are separate programs started from
the command line, as on a cluster. Each worker runs in a mount namespace of its own
where the folders in ``hidden`` are covered by an empty tmpfs (``unshare --mount``, so
root is needed): a test's course folder is then out of the workers' sight, as on
machines that share no folder with the grader.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from autograder.dask_settings import environment_variables

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def can_hide_folders() -> str | None:
    """Why workers cannot be started in a namespace of their own here; None if they can."""
    if os.geteuid() != 0:
        return "hiding the course from Dask workers needs root (unshare --mount)"
    if not Path("/usr/bin/unshare").exists():
        return "unshare (util-linux) is not installed"
    return None


class DaskProcesses:
    """A scheduler on a free loopback port and ``workers`` single-threaded workers."""

    def __init__(
        self,
        folder: Path,
        workers: int,
        hidden: list[Path],
        allowed_failures: int = 2,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.hidden = hidden
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.environment = {
            **os.environ,
            # The grading settings unless others are given ({}: Dask's defaults).
            **(environment_variables() if settings is None else settings),
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.worker_count = workers

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                argv,
                cwd=self.folder,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self) -> DaskProcesses:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler = self._spawn(
            "scheduler",
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-dashboard"],
        )  # fmt: skip
        for number in range(self.worker_count):
            self.add_worker(number)
        self.wait_for_workers(self.worker_count)
        return self

    def add_worker(self, number: int) -> None:
        """Start a worker that sees an empty folder at each of the hidden paths."""
        hide = "".join(
            f"mount -t tmpfs -o size=1m,mode=0700 none {shlex.quote(str(path))} && "
            for path in self.hidden
        )
        worker = shlex.join(
            [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--nworkers", "1",
             "--no-dashboard", "--local-directory", str(self.folder / f"worker-{number}")]
        )  # fmt: skip
        self.workers.append(
            self._spawn(
                f"worker-{number}",
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    f"{hide}exec {worker}",
                ],
            )
        )

    def client(self):
        from dask.distributed import Client

        return Client(self.address, timeout=30)

    def wait_for_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT_S)

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> None:
        processes = [*self.workers, *([self.scheduler] if self.scheduler else [])]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextlib.contextmanager
def dask_processes(
    folder: Path,
    workers: int,
    hidden: list[Path],
    allowed_failures: int = 2,
    settings: dict[str, str] | None = None,
) -> Iterator[DaskProcesses]:
    cluster = DaskProcesses(folder, workers, hidden, allowed_failures, settings)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
