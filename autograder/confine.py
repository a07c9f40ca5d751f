"""``python -m autograder.confine [limits] -- command``: run a command under limits.

Sets the address-space, CPU-time, file-size and core-size rlimits, moves itself into a fresh
cgroup (cgroup v1 or v2) whose ``pids.max`` caps processes and threads (RLIMIT_NPROC
does not bind root) and whose memory limit caps the whole sandbox, children and
tmpfs files included; then execs the command, which inherits all of it. With
``--seccomp`` the command is bubblewrap, and it is handed the seccomp filter of
:mod:`autograder.seccomp` on an inherited file descriptor.

:func:`capped_folder` gives the one host folder a kernel writes (its IPC sockets) a
size cap of its own.

After the sandbox has ended, :func:`cgroup_events` says whether a limit was hit (an
OOM kill, a refused fork) and :func:`remove_cgroups` removes the groups.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "autograder"
STALE_AFTER_SECONDS = 60.0
CONTROLLERS = ("pids", "memory")


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path for ``controller`` (v1), or its v2 path with ``""``."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (controller == "" and names == ""):
            return path
    return None


def _v2_has(controller: str) -> bool:
    controllers = CGROUP_ROOT / "cgroup.controllers"
    return controllers.is_file() and controller in controllers.read_text().split()


def cgroup_dir(controller: str, name: str) -> Path | None:
    """Where the cgroup ``name`` of ``controller`` lives, under this process's own group.

    A child of the current group keeps the sandbox inside whatever limits the grading
    machine itself runs under (a container's memory cgroup, for instance).
    """
    v1 = CGROUP_ROOT / controller
    if (v1 / "cgroup.procs").exists():
        own = _own_cgroup(controller) or "/"
        return v1 / own.lstrip("/") / CGROUP_PARENT / name
    if _v2_has(controller):
        own = _own_cgroup("") or "/"
        return CGROUP_ROOT / own.lstrip("/") / CGROUP_PARENT / name
    return None


def pids_cgroup(name: str) -> Path | None:
    return cgroup_dir("pids", name)


def _enable_v2_controllers(group: Path) -> None:
    """cgroup v2 only gives a child ``pids.max`` and ``memory.max`` once the parents allow it."""
    if (group / "pids.max").exists() or not (CGROUP_ROOT / "cgroup.controllers").is_file():
        return
    for parent in (group.parent.parent, group.parent):
        with contextlib.suppress(OSError):
            (parent / "cgroup.subtree_control").write_text("+pids +memory")


def join_cgroups(name: str, max_processes: int, memory_bytes: int) -> list[str]:
    """Move this process into new cgroups; returns the controllers that could not be had."""
    missing = []
    limits = {
        "pids": {"pids.max": str(max_processes)},
        "memory": {
            # v1 names first; memsw also stops swapping past the limit.
            "memory.limit_in_bytes": str(memory_bytes),
            "memory.memsw.limit_in_bytes": str(memory_bytes),
            "memory.max": str(memory_bytes),
            "memory.swap.max": "0",
        },
    }
    for controller in CONTROLLERS:
        wanted = limits[controller]
        if controller == "pids" and not max_processes:
            continue
        if controller == "memory" and not memory_bytes:
            continue
        group = cgroup_dir(controller, name)
        try:
            if group is None:
                raise OSError(f"no {controller} cgroup")
            group.mkdir(parents=True, exist_ok=True)
            _enable_v2_controllers(group)
            written = 0
            for file, value in wanted.items():
                if (group / file).exists():
                    (group / file).write_text(value)
                    written += 1
            if not written:
                raise OSError(f"{group} has no {controller} limit")
            (group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            missing.append(controller)
    return missing


@dataclass(frozen=True)
class CgroupEvents:
    """What the limits stopped while a sandbox ran."""

    oom_kills: int = 0
    forks_refused: int = 0


def _event_count(file: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in file.read_text().splitlines():
            field, _, value = line.partition(" ")
            if field == key:
                return int(value)
    return 0


def cgroup_events(name: str) -> CgroupEvents:
    memory, pids = cgroup_dir("memory", name), cgroup_dir("pids", name)
    oom_kills = 0
    if memory is not None:
        oom_kills = _event_count(memory / "memory.events", "oom_kill") or _event_count(
            memory / "memory.oom_control", "oom_kill"
        )
    forks_refused = _event_count(pids / "pids.events", "max") if pids is not None else 0
    return CgroupEvents(oom_kills=oom_kills, forks_refused=forks_refused)


def remove_cgroups(
    name: str, wait_seconds: float = 5.0, stale_after: float = STALE_AFTER_SECONDS
) -> None:
    """Remove the cgroups of a finished kernel once its killed processes are gone.

    A killed sandbox's last processes are reaped by the machine's init, which can take
    longer than ``wait_seconds``. A group left behind that way is removed by a later
    call once it is empty and older than ``stale_after`` seconds; a younger one may
    belong to a kernel that is only now joining it.
    """
    for controller in CONTROLLERS:
        path = cgroup_dir(controller, name)
        if path is None or not path.parent.is_dir():
            continue
        if path.is_dir():
            _remove_when_empty(path, wait_seconds)
        for other in path.parent.iterdir():
            if other.is_dir() and _age_seconds(other) >= stale_after:
                with contextlib.suppress(OSError):
                    other.rmdir()


def _age_seconds(path: Path) -> float:
    # The cgroup filesystem stamps with the kernel's coarse clock and may re-stamp an
    # inode it evicted and looks up again, so the clock is read after the stat.
    modified = path.stat().st_mtime
    return time.time() - modified


def _remove_when_empty(path: Path, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            path.rmdir()
            return
        except OSError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)


@contextlib.contextmanager
def capped_folder(path: Path, megabytes: int) -> Iterator[bool]:
    """``path`` as a tmpfs of ``megabytes`` while the block runs; yields whether it is one.

    Only root can mount it; a grader run as a user keeps a plain folder, where the
    kernel's ``RLIMIT_FSIZE`` caps each file but not how many it makes.
    """
    mounted = False
    if os.geteuid() == 0:
        options = f"size={megabytes}m,mode=1777,nosuid,nodev,noexec"
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            check=False,
        )
        mounted = result.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)


def _seccomp_descriptor() -> int:
    """An inheritable descriptor reading the compiled seccomp filter from its start."""
    from autograder.seccomp import filter_program

    with tempfile.TemporaryFile() as program:
        program.write(filter_program())
        program.seek(0)
        descriptor = os.dup(program.fileno())
    os.set_inheritable(descriptor, True)
    return descriptor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autograder.confine")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--max-processes", type=int, default=0)
    parser.add_argument("--file-size-mb", type=int, default=0)
    parser.add_argument("--cgroup", default=f"kernel-{os.getpid()}")
    parser.add_argument(
        "--seccomp", action="store_true", help="the command is bwrap: give it the filter"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    memory_bytes = args.memory_mb * 1024 * 1024
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if args.cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (args.cpu_seconds, args.cpu_seconds))
    if args.file_size_mb:
        file_bytes = args.file_size_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    missing = join_cgroups(args.cgroup, args.max_processes, memory_bytes)
    if "pids" in missing:
        resource.setrlimit(resource.RLIMIT_NPROC, (args.max_processes, args.max_processes))
        print("autograder.confine: no pids cgroup; RLIMIT_NPROC only", file=sys.stderr)
    if "memory" in missing:
        print("autograder.confine: no memory cgroup; per-process RLIMIT_AS only", file=sys.stderr)
    if args.seccomp:
        command = [command[0], "--seccomp", str(_seccomp_descriptor()), *command[1:]]
    # The sandbox's first process keeps the environment it was started with, and a
    # kernel running as the grader's user could read it from /proc: pass on PATH only.
    os.execvpe(command[0], command, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


if __name__ == "__main__":
    main()
