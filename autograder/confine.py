"""``python -m autograder.confine [limits] -- command``: run a command under limits.

Sets the address-space, CPU-time, file-size and core-size rlimits, moves itself into a fresh
cgroup (cgroup v1 or v2) whose ``pids.max`` caps processes and threads (RLIMIT_NPROC
does not bind root) and whose memory limit caps the whole sandbox, children and
tmpfs files included; then execs the command, which inherits all of it. With
``--seccomp`` the command is bubblewrap, and it is handed the seccomp filter of
:mod:`autograder.seccomp` on an inherited file descriptor.

On cgroup v2 the group is ``<own group>/autograder/<name>``; confine enables the pids
(and memory) controller in the ``cgroup.subtree_control`` of the own group and of
``autograder``, moving the grader's own processes to a leaf group first where v2's
"no internal processes" rule asks for it (see :func:`_enable_v2`). Run as root, where
RLIMIT_NPROC does not bind, confine refuses to run the command when no pids cgroup
can be had; :func:`process_limit_problem` lets a batch find that out once, up front.

:func:`capped_folder` gives the one host folder a kernel writes (its IPC sockets) a
size cap of its own.

After the sandbox has ended, :func:`cgroup_events` says whether a limit was hit (an
OOM kill, a refused fork) and :func:`remove_cgroups` removes the groups."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Where the cgroup filesystem is mounted and where this process's cgroups are listed:
# module constants so that tests can point confine at a tree of their own.
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_PARENT = "autograder"
# cgroup v2: the leaf group the grader's own processes move to (see _enable_v2).
GRADER_LEAF = "autograder-grader"
STALE_AFTER_SECONDS = 60.0
CONTROLLERS = ("pids", "memory")
ENABLE_ATTEMPTS = 5


# The kernel's side of a cgroup tree: confine creates, writes and removes groups only
# through these three functions.
def _make_group(path: Path) -> None:
    """Create the group ``path`` (its parent exists); the kernel gives it its files."""
    path.mkdir(exist_ok=True)


def _write(path: Path, value: str) -> None:
    """Write one of a group's interface files."""
    path.write_text(value)


def _remove_group(path: Path) -> None:
    """Remove the group ``path``; fails while processes or child groups are in it."""
    path.rmdir()


def _as_root() -> bool:
    return os.geteuid() == 0


def _words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path for ``controller`` (v1), or its v2 path with ``""``."""
    try:
        lines = PROC_SELF_CGROUP.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (controller == "" and names == ""):
            return path
    return None


def _unified() -> bool:
    """Whether the cgroup root is a cgroup v2 (unified) mount."""
    return (CGROUP_ROOT / "cgroup.controllers").is_file()


def _v2_base() -> Path:
    """The grader's own v2 group, under which the sandboxes' groups go.

    A grader whose processes were moved to their leaf (see :func:`_enable_v2`) is
    still based at the group it started in.
    """
    base = CGROUP_ROOT / (_own_cgroup("") or "/").lstrip("/")
    return base.parent if base.name == GRADER_LEAF else base


def _shown(group: Path) -> str:
    """``group`` as /proc/self/cgroup names it."""
    relative = group.relative_to(CGROUP_ROOT).as_posix()
    return "/" if relative == "." else f"/{relative}"


def cgroup_dir(controller: str, name: str) -> Path | None:
    """Where the cgroup ``name`` of ``controller`` lives, under this process's own group.

    A child of the current group keeps the sandbox inside whatever limits the grading
    machine itself runs under (a container's memory cgroup, for instance). On cgroup
    v2 it is ``<own group>/autograder/<name>`` for every controller, and None where
    the controller is not delegated to the own group.
    """
    if _unified():
        base = _v2_base()
        if controller in _words(base / "cgroup.controllers"):
            return base / CGROUP_PARENT / name
        return None
    v1 = CGROUP_ROOT / controller
    if (v1 / "cgroup.procs").exists():
        own = _own_cgroup(controller) or "/"
        return v1 / own.lstrip("/") / CGROUP_PARENT / name
    return None


def pids_cgroup(name: str) -> Path | None:
    return cgroup_dir("pids", name)


def _enable_v2(group: Path, controller: str, vacate: bool) -> None:
    """List ``controller`` in ``group``'s ``cgroup.subtree_control``, so its children get it.

    cgroup v2's "no internal processes" rule: a group other than the root that holds
    processes cannot enable a controller for its children (the write fails with
    EBUSY). The grader's own group holds the grader, so with ``vacate`` its
    processes move to the leaf child ``autograder-grader`` first, as a container's
    init moves itself to a leaf before delegating; the grader keeps the limits of its
    group, which now apply to the leaf and the sandboxes together.
    """
    control = group / "cgroup.subtree_control"
    for attempt in range(ENABLE_ATTEMPTS):
        if controller in _words(control):
            return
        try:
            _write(control, f"+{controller}")
            return
        except OSError as error:
            last = attempt == ENABLE_ATTEMPTS - 1
            if error.errno != errno.EBUSY or not vacate or last:
                raise
        # Processes started meanwhile land in the group again: move those too.
        leaf = group / GRADER_LEAF
        _make_group(leaf)
        for pid in _words(group / "cgroup.procs"):
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                _write(leaf / "cgroup.procs", pid)


def _delegate_v2(base: Path, controller: str) -> str | None:
    """Enable ``controller`` for the groups under ``base/autograder``; None once done,
    else why it cannot be.

    v2 gives a group a controller's files (``pids.max``, ``memory.max``) only when its
    parent lists the controller in ``cgroup.subtree_control``, and a group can list
    only what its own parent delegated to it (its ``cgroup.controllers``).
    """
    delegated = _words(base / "cgroup.controllers")
    if controller not in delegated:
        return (
            f"cgroup v2 does not delegate the {controller} controller to the grader's "
            f"cgroup {_shown(base)} (its cgroup.controllers: {' '.join(delegated) or 'none'})"
        )
    try:
        _enable_v2(base, controller, vacate=True)
        _make_group(base / CGROUP_PARENT)
        _enable_v2(base / CGROUP_PARENT, controller, vacate=False)
    except OSError as error:
        return f"cgroup v2 refused the {controller} controller under {_shown(base)}: {error}"
    return None


def _limit_files(max_processes: int, memory_bytes: int) -> dict[str, dict[str, str]]:
    """Per controller asked for, the limit files to write where they exist."""
    limits = {}
    if max_processes:
        limits["pids"] = {"pids.max": str(max_processes)}
    if memory_bytes:
        limits["memory"] = {
            # v1 names first; memsw also stops swapping past the limit; then v2's.
            "memory.limit_in_bytes": str(memory_bytes),
            "memory.memsw.limit_in_bytes": str(memory_bytes),
            "memory.max": str(memory_bytes),
            "memory.swap.max": "0",
        }
    return limits


def _limited_groups(
    name: str, limits: dict[str, dict[str, str]], need_pids: bool = False
) -> tuple[dict[str, Path], dict[str, str]]:
    """Create the groups ``name`` with ``limits`` written in them.

    Returns the group of each controller had, and why each other one was not. With
    ``need_pids``, no other group is made once no pids group can be had.
    """
    places: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for controller in [c for c in CONTROLLERS if c in limits]:
        group: Path | None
        if _unified():
            base = _v2_base()
            problem = _delegate_v2(base, controller)
            group = base / CGROUP_PARENT / name
        else:
            group = cgroup_dir(controller, name)
            problem = None if group else f"{CGROUP_ROOT} has no {controller} cgroup (v1 or v2)"
        if group is not None and problem is None:
            try:
                _make_group(group.parent)
                _make_group(group)
                written = 0
                for file, value in limits[controller].items():
                    if (group / file).exists():
                        _write(group / file, value)
                        written += 1
                if not written:
                    raise OSError(f"{group} has no {controller} limit")
                places[controller] = group
            except OSError as error:
                problem = f"no {controller} limit in {group}: {error}"
        if problem is not None:
            missing[controller] = problem
            if need_pids and controller == "pids":
                break
    return places, missing


def _join(
    name: str, max_processes: int, memory_bytes: int, need_pids: bool = False
) -> dict[str, str]:
    """Move this process into new limited cgroups; returns why each controller asked
    for could not be had."""
    places, missing = _limited_groups(name, _limit_files(max_processes, memory_bytes), need_pids)
    for group in dict.fromkeys(places.values()):
        try:
            _write(group / "cgroup.procs", str(os.getpid()))
        except OSError as error:
            for controller in [c for c, place in places.items() if place == group]:
                missing[controller] = f"cannot join {group}: {error}"
    return missing


def join_cgroups(name: str, max_processes: int, memory_bytes: int) -> list[str]:
    """Move this process into new cgroups; returns the controllers that could not be had."""
    return list(_join(name, max_processes, memory_bytes))


def refusal(reason: str) -> str:
    """The one message of a grader that will not run code without a process limit."""
    return (
        "no process limit can be enforced, so grading is refused (a fork bomb would run "
        f"unlimited): {reason}, and RLIMIT_NPROC does not bind a grader run as root. Give "
        "the grader's cgroup the pids controller (on cgroup v2, delegate it, e.g. with "
        "systemd's Delegate=yes), run the grader as a user, or use the docker back end."
    )


def process_limit_problem(max_processes: int = 1) -> str | None:
    """Why a sandbox started here would get no process limit; None when it would get one.

    For a batch to call once before grading. It does what confine does, short of
    joining: creates a pids group with ``pids.max`` under this process's own cgroup
    and removes it again (on cgroup v2 that enables the controller, moving the
    grader's processes to their leaf group). A grader that is not root needs none:
    RLIMIT_NPROC binds its kernels.
    """
    if not max_processes or not _as_root():
        return None
    name = f"preflight-{os.getpid()}"
    places, missing = _limited_groups(name, _limit_files(max_processes, 0), need_pids=True)
    for group in places.values():
        with contextlib.suppress(OSError):
            _remove_group(group)
    return refusal(missing["pids"]) if "pids" in missing else None


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
    """The OOM kills (v2 ``memory.events``, v1 ``memory.oom_control``) and refused
    forks (``pids.events``) of the group ``name``."""
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
    belong to a kernel that is only now joining it. On cgroup v2 the controllers
    share one group.
    """
    paths = dict.fromkeys(cgroup_dir(controller, name) for controller in CONTROLLERS)
    for path in paths:
        if path is None or not path.parent.is_dir():
            continue
        if path.is_dir():
            _remove_when_empty(path, wait_seconds)
        for other in path.parent.iterdir():
            if other.is_dir() and _age_seconds(other) >= stale_after:
                with contextlib.suppress(OSError):
                    _remove_group(other)


def _age_seconds(path: Path) -> float:
    # The cgroup filesystem stamps with the kernel's coarse clock and may re-stamp an
    # inode it evicted and looks up again, so the clock is read after the stat.
    modified = path.stat().st_mtime
    return time.time() - modified


def _remove_when_empty(path: Path, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            _remove_group(path)
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
    as_root = _as_root()
    missing = _join(args.cgroup, args.max_processes, memory_bytes, need_pids=as_root)
    if "pids" in missing and as_root:
        # Never a fork bomb graded unlimited in silence.
        sys.exit(f"autograder.confine: {refusal(missing['pids'])}")
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
