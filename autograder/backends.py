"""Isolation back ends: how a student's kernel is started.

nbgrader's own steps (sanitising, restoring locked cells, scoring, gradebook
writes) stay in the trusted grading process; only the kernel, which runs student
code, is isolated. Each back end gives the ``argv`` of a Jupyter kernelspec; the
kernel talks to nbgrader over IPC sockets in ``run_dir``, so it needs no network.
"""

from __future__ import annotations

import functools
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from autograder.settings import THREAD_VARIABLES, Limits

KERNEL = ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/sys")
PACKAGE_DIR = Path(__file__).resolve().parent


SANDBOX_MPLCONFIGDIR = "/tmp/matplotlib"


@functools.cache
def matplotlib_font_list() -> Path | None:
    """matplotlib's font list, built once by this trusted process; None without matplotlib.

    A kernel's private /tmp starts empty, so without it every sandboxed kernel that
    imports pyplot would scan the system's fonts again.
    """
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    name = f"fontlist-v{font_manager.FontManager.__version__}.json"
    path = Path(matplotlib.get_cachedir()) / name
    return path if path.is_file() else None


class Backend(ABC):
    """Builds the command that starts one submission's kernel."""

    name: ClassVar[str]
    isolated: ClassVar[bool]

    @abstractmethod
    def kernel_argv(self, workdir: Path, run_dir: Path, limits: Limits) -> list[str]:
        """The kernelspec argv for a kernel working in ``workdir``."""

    def describe(self) -> str:
        return self.name


class LocalBackend(Backend):
    """A plain subprocess: for development only, student code is NOT isolated."""

    name = "local"
    isolated = False

    def kernel_argv(self, workdir: Path, run_dir: Path, limits: Limits) -> list[str]:
        return [sys.executable, *KERNEL]

    def describe(self) -> str:
        return "local (NOT isolated: student code runs with your permissions)"


class SandboxBackend(Backend):
    """bubblewrap: no network, own pid namespace and /tmp, read-only system, limits."""

    name = "sandbox"
    isolated = True

    def __init__(self, bwrap: str = "bwrap") -> None:
        self.bwrap = bwrap

    def readonly_paths(self) -> list[Path]:
        """The Python installation and this package: all a kernel needs to read."""
        paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), PACKAGE_DIR}
        paths.add(Path(sys.executable).resolve().parent.parent)
        data = os.environ.get("AUTOGRADER_MNIST_NPZ")
        if data:
            paths.add(Path(data).resolve())
        return sorted(paths)

    def kernel_argv(self, workdir: Path, run_dir: Path, limits: Limits) -> list[str]:
        confine = [
            sys.executable,
            "-m",
            "autograder.confine",
            f"--memory-mb={limits.memory_mb}",
            f"--cpu-seconds={limits.cpu_seconds}",
            f"--max-processes={limits.max_processes}",
            f"--cgroup={run_dir.name}",
            "--",
        ]
        bwrap = [
            self.bwrap,
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--die-with-parent",
            "--new-session",
        ]
        for system_dir in SYSTEM_DIRS:
            bwrap += ["--ro-bind-try", system_dir, system_dir]
        # Mounts apply in order: the private /tmp first, so that a Python or a
        # submission living under /tmp is bound over it, not hidden by it.
        bwrap += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in self.readonly_paths():
            bwrap += ["--ro-bind", str(path), str(path)]
        font_list = matplotlib_font_list()
        if font_list is not None:
            bwrap += ["--ro-bind", str(font_list), f"{SANDBOX_MPLCONFIGDIR}/{font_list.name}"]
        for device in sorted(Path("/dev").glob("nvidia*")):
            bwrap += ["--dev-bind", str(device), str(device)]
        bwrap += ["--bind", str(workdir), str(workdir), "--bind", str(run_dir), str(run_dir)]
        bwrap += [
            "--chdir",
            str(workdir),
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "MPLCONFIGDIR",
            SANDBOX_MPLCONFIGDIR,
            "--setenv",
            "KERAS_HOME",
            "/tmp/keras",
            "--unsetenv",
            "JPY_PARENT_PID",
            "--",
        ]
        return [*confine, *bwrap, sys.executable, *KERNEL]


class DockerBackend(Backend):
    """A container of the grading image (``autograder/container/``); needs a Docker engine.

    Mount contract: the submission's working copy at ``/grade/submission`` (the only
    writable path) and the kernel's run folder (connection file and IPC sockets) at
    the same path as on the host.
    """

    name = "docker"
    isolated = True

    def __init__(self, image: str, gpus: bool = False, cpus: float | None = None) -> None:
        self.image = image
        self.gpus = gpus
        self.cpus = cpus or float(os.cpu_count() or 1)

    def kernel_argv(self, workdir: Path, run_dir: Path, limits: Limits) -> list[str]:
        argv = [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--tmpfs",
            "/tmp",
            f"--memory={limits.memory_mb}m",
            f"--memory-swap={limits.memory_mb}m",
            f"--cpus={self.cpus:g}",
            f"--pids-limit={limits.max_processes}",
            f"--ulimit=cpu={limits.cpu_seconds}",
            "--volume",
            f"{workdir}:/grade/submission",
            "--volume",
            f"{run_dir}:{run_dir}",
            "--workdir",
            "/grade/submission",
            "--env",
            "HOME=/tmp",
            "--env",
            "AUTOGRADER_SEED",
        ]
        for variable in THREAD_VARIABLES:
            argv += ["--env", variable]
        if self.gpus:
            argv += ["--gpus", "all"]
        return [*argv, self.image, "python", *KERNEL]

    def describe(self) -> str:
        return f"docker ({self.image}{', GPUs' if self.gpus else ''})"


def make_backend(name: str, docker_image: str = "", docker_gpus: bool = False) -> Backend:
    if name == "sandbox":
        return SandboxBackend()
    if name == "docker":
        return DockerBackend(docker_image, gpus=docker_gpus)
    if name == "local":
        return LocalBackend()
    raise ValueError(f"unknown back end {name!r}: choose sandbox, docker or local")
