"""The docker back end: each submission's kernel in a container of the grading image.

The kernelspec's process is the ``docker run`` client, and a killed client leaves its
container running; so every container is named after its run folder and labelled
with the worker that started it, and the grader removes it itself: after the
submission (:meth:`DockerBackend.finish`, which also reads whether the memory limit
killed it) and, when a worker is killed, every container that worker started
(:func:`remove_containers`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from autograder.backends import (
    DATA_MOUNT,
    KERNEL,
    MEMORY_REASON,
    NOBODY,
    PACKAGE_DIR,
    SUBMISSION_MOUNT,
    Backend,
    input_files,
)
from autograder.settings import Limits
from autograder.thresholds import THRESHOLDS_FILE

WORKER_LABEL = "autograder.worker"
RUN_LABEL = "autograder.run"
# The image's entry point: matplotlib's font list into the private /tmp, then ipykernel.
KERNEL_ENTRY = "autograder-kernel"
# Where the images install this package; the back end mounts the grader's copy there.
IMAGE_PACKAGE_DIR = "/opt/venv/lib/python3.11/site-packages/autograder"


def _docker(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *arguments], capture_output=True, text=True, timeout=120, check=False
    )


def container_name(run_dir: Path) -> str:
    return f"autograder-{run_dir.name}"


def remove_containers(label: str, value: str) -> int:
    """Kill and remove every container whose ``label`` is ``value``; returns how many."""
    listed = _docker("ps", "--all", "--quiet", "--filter", f"label={label}={value}")
    ids = listed.stdout.split()
    if ids:
        _docker("rm", "--force", *ids)
    return len(ids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphaned_containers() -> int:
    """Remove the containers whose grading worker process is gone; returns how many.

    A worker killed by a cluster (a Dask nanny restarts it) cannot remove its own
    containers: the next worker on the machine does, before it starts a kernel.
    """
    listed = _docker(
        "ps", "--all", "--filter", f"label={WORKER_LABEL}",
        "--format", f'{{{{.ID}}}} {{{{.Label "{WORKER_LABEL}"}}}}',
    )  # fmt: skip
    orphans = [
        container
        for container, _, worker in (line.partition(" ") for line in listed.stdout.splitlines())
        if worker.strip().isdigit() and not _alive(int(worker))
    ]
    if orphans:
        _docker("rm", "--force", *orphans)
    return len(orphans)


class DockerBackend(Backend):
    """A container of the grading image (``autograder/container/``); needs a Docker engine.

    Mount contract: the submission's files read-only in a size-capped tmpfs at
    ``/grade/submission`` (the kernel's working folder), the kernel's data read-only at
    ``/grade/data``, the kernel's IPC folder (connection file and sockets) at the same
    path as on the host, and this package read-only over the image's copy. Started by
    root, the kernel runs as nobody and reads its connection file through nobody's
    group; started by a user of the docker group, it runs as that user's ids. It has no
    capabilities, no network, no new privileges; the image holds no held-out labels and
    the thresholds are hidden.
    """

    name = "docker"
    isolated = True

    def __init__(
        self, image: str, gpus: bool = False, cpus: float | None = None, as_root: bool | None = None
    ) -> None:
        self.image = image
        self.gpus = gpus
        self.cpus = cpus or float(os.cpu_count() or 1)
        self.as_root = os.geteuid() == 0 if as_root is None else as_root
        self.kernel_gid = NOBODY if self.as_root else None

    def _user(self) -> str:
        return f"{NOBODY}:{NOBODY}" if self.as_root else f"{os.getuid()}:{os.getgid()}"

    def kernel_argv(
        self,
        inputs: Path,
        ipc_dir: Path,
        limits: Limits,
        environment: dict[str, str],
        data_dir: Path | None = None,
    ) -> list[str]:
        remove_orphaned_containers()
        scratch = f"size={limits.scratch_mb}m,mode=1777"
        argv = [
            "docker", "run",
            "--name", container_name(ipc_dir.parent),
            "--label", f"{WORKER_LABEL}={os.getpid()}",
            "--label", f"{RUN_LABEL}={ipc_dir.parent.name}",
            "--init",
            "--network", "none",
            "--read-only",
            "--user", self._user(),
            "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--tmpfs", f"/tmp:{scratch}",
            "--tmpfs", f"/dev/shm:{scratch}",
            "--tmpfs", f"{SUBMISSION_MOUNT}:{scratch}",
            f"--memory={limits.memory_mb}m",
            f"--memory-swap={limits.memory_mb}m",
            f"--cpus={self.cpus:g}",
            f"--pids-limit={limits.max_processes}",
            # Each process's data (RLIMIT_DATA caps anonymous mappings as the sandbox's
            # RLIMIT_AS does): an oversized allocation fails with a MemoryError at once.
            f"--ulimit=data={limits.memory_mb * 1024 * 1024}",
            f"--ulimit=cpu={limits.cpu_seconds}",
            f"--ulimit=fsize={limits.scratch_mb * 1024 * 1024}",
            "--ulimit=core=0",
        ]  # fmt: skip
        for relative in input_files(inputs):
            target = f"{SUBMISSION_MOUNT}/{relative.as_posix()}"
            argv += ["--volume", f"{inputs / relative}:{target}:ro"]
        # The kernel runs this grader's own runtime modules, as in the sandbox, so the
        # image needs rebuilding only when the stack changes; the thresholds stay hidden.
        argv += ["--volume", f"{PACKAGE_DIR}:{IMAGE_PACKAGE_DIR}:ro"]
        argv += ["--volume", f"/dev/null:{IMAGE_PACKAGE_DIR}/{THRESHOLDS_FILE.name}:ro"]
        if data_dir is not None:
            argv += ["--volume", f"{data_dir}:{DATA_MOUNT}:ro"]
        argv += ["--volume", f"{ipc_dir}:{ipc_dir}", "--workdir", SUBMISSION_MOUNT]
        variables = {"LANG": "C.UTF-8", **environment}
        if self.gpus and "CUDA_VISIBLE_DEVICES" in os.environ:
            variables.setdefault("CUDA_VISIBLE_DEVICES", os.environ["CUDA_VISIBLE_DEVICES"])
        for name, value in variables.items():
            argv += ["--env", f"{name}={value}"]
        if self.gpus:
            argv += ["--gpus", "all"]
        return [*argv, self.image, KERNEL_ENTRY, *KERNEL[2:]]

    def finish(self, run_dir: Path) -> list[str]:
        """Remove the submission's container, whatever it still runs; the limits it hit."""
        name = container_name(run_dir)
        with contextlib.suppress(subprocess.TimeoutExpired):
            # Docker records a memory kill in the container's state once it has stopped.
            _docker("kill", name)
            state = _docker("inspect", "--format", "{{.State.OOMKilled}}", name)
            _docker("rm", "--force", name)
            return [MEMORY_REASON] if state.stdout.strip() == "true" else []
        _docker("rm", "--force", name)
        return []

    def describe(self) -> str:
        return f"docker ({self.image}{', GPUs' if self.gpus else ''})"
