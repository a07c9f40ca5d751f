"""``python -m autograder.confine [limits] -- command``: run a command under limits.

Sets the address-space and CPU-time rlimits, moves itself into a fresh cgroup whose
``pids.max`` caps processes and threads (RLIMIT_NPROC does not bind root), then
execs the command, which inherits all three.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
from pathlib import Path

CGROUP_V1_PIDS = Path("/sys/fs/cgroup/pids")
CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_PARENT = "autograder"
STALE_AFTER_SECONDS = 60.0


def pids_cgroup(name: str) -> Path | None:
    """Where the pids cgroup ``name`` lives on this machine (cgroup v1 or v2), if anywhere."""
    if (CGROUP_V1_PIDS / "cgroup.procs").exists():
        return CGROUP_V1_PIDS / CGROUP_PARENT / name
    controllers = CGROUP_V2 / "cgroup.controllers"
    if controllers.exists() and "pids" in controllers.read_text().split():
        return CGROUP_V2 / CGROUP_PARENT / name
    return None


def join_pids_cgroup(name: str, max_processes: int) -> bool:
    """Move this process into a new pids cgroup; False when the machine does not allow it."""
    path = pids_cgroup(name)
    if path is None:
        return False
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / "pids.max").write_text(str(max_processes))
        (path / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return False
    return True


def remove_pids_cgroup(
    name: str, wait_seconds: float = 5.0, stale_after: float = STALE_AFTER_SECONDS
) -> None:
    """Remove the cgroup of a finished kernel once its killed processes are gone.

    A killed sandbox's last processes are reaped by the machine's init, which can take
    longer than ``wait_seconds``. A cgroup left behind that way is removed by a later
    call once it is empty and older than ``stale_after`` seconds; a younger one may
    belong to a kernel that is only now joining it.
    """
    path = pids_cgroup(name)
    if path is None or not path.parent.is_dir():
        return
    if path.is_dir():
        _remove_when_empty(path, wait_seconds)
    now = time.time()
    for other in path.parent.iterdir():
        if other.is_dir() and now - other.stat().st_mtime > stale_after:
            with contextlib.suppress(OSError):
                other.rmdir()


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autograder.confine")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--max-processes", type=int, default=0)
    parser.add_argument("--cgroup", default=f"kernel-{os.getpid()}")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    if args.memory_mb:
        limit = args.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if args.cpu_seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (args.cpu_seconds, args.cpu_seconds))
    if args.max_processes and not join_pids_cgroup(args.cgroup, args.max_processes):
        resource.setrlimit(resource.RLIMIT_NPROC, (args.max_processes, args.max_processes))
        print("autograder.confine: no pids cgroup; RLIMIT_NPROC only", file=sys.stderr)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
