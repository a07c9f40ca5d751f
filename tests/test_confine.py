"""The limits wrapper on its own: processes, memory (per process and per sandbox), CPU time."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.confine import capped_folder, cgroup_events, pids_cgroup, remove_cgroups

CONFINE = [sys.executable, "-m", "autograder.confine"]


def _run(limits: list[str], code: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CONFINE, *limits, "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_fork_bomb_hits_the_process_limit() -> None:
    code = (
        "import os, time\n"
        "count = 0\n"
        "try:\n"
        "    for _ in range(2000):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(2); os._exit(0)\n"
        "        count += 1\n"
        "except OSError:\n"
        "    print('limited at', count)\n"
    )
    result = _run(["--max-processes=40", "--cgroup=test-fork-bomb"], code)
    remove_cgroups("test-fork-bomb")
    assert "limited at" in result.stdout, result.stderr
    assert int(result.stdout.split()[-1]) < 40


def test_a_memory_bomb_gets_a_memory_error() -> None:
    code = "try:\n    b = bytearray(3 * 1024**3)\nexcept MemoryError:\n    print('memory limited')"
    result = _run(["--memory-mb=1024"], code)
    assert result.stdout.strip() == "memory limited", result.stderr


def test_cpu_time_is_limited() -> None:
    result = _run(["--cpu-seconds=1"], "while True:\n    pass", timeout=30)
    assert result.returncode != 0


def test_a_file_larger_than_the_limit_cannot_be_written(tmp_path: Path) -> None:
    code = (
        f"written = 0\nwith open({str(tmp_path / 'big')!r}, 'wb') as sink:\n"
        "    try:\n"
        "        for _ in range(8):\n"
        "            sink.write(b'x' * 2**20); sink.flush(); written += 1\n"
        "    except OSError as error:\n"
        "        print(written, error.errno)"
    )
    result = _run(["--file-size-mb=2"], code)
    assert result.stdout.split() == ["2", str(errno.EFBIG)], result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root mounts the capped folder")
def test_a_capped_folder_holds_no_more_than_its_size(tmp_path: Path) -> None:
    with capped_folder(tmp_path, 1) as mounted:
        assert mounted
        with pytest.raises(OSError) as error, open(tmp_path / "fill", "wb") as sink:
            sink.write(b"x" * 2 * 2**20)
        assert error.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == [], "the folder is unmounted afterwards"


def test_a_command_is_required() -> None:
    result = subprocess.run([*CONFINE, "--memory-mb=10"], capture_output=True, text=True)
    assert result.returncode == 2 and "no command" in result.stderr


def test_cgroups_left_behind_are_removed_once_empty() -> None:
    stale = pids_cgroup("test-left-behind")
    assert stale is not None, "grading needs a pids cgroup on this machine"
    stale.mkdir(parents=True)
    busy = subprocess.Popen(
        [*CONFINE, "--max-processes=10", "--cgroup=test-busy", "--", "sleep", "30"]
    )
    try:
        deadline = time.monotonic() + 10
        while not (stale.parent / "test-busy" / "cgroup.procs").is_file():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        remove_cgroups("test-finished", wait_seconds=0, stale_after=0)
        assert not stale.exists()
        assert (stale.parent / "test-busy").is_dir(), "a cgroup in use must stay"
    finally:
        busy.kill()
        busy.wait()
    remove_cgroups("test-busy")
    assert not (stale.parent / "test-busy").exists()


def test_children_together_hit_the_sandbox_memory_limit() -> None:
    # Each child holds its 200 MiB for a while, so the three are alive together whatever
    # the scheduling: only their sum passes the limit.
    code = (
        "import os, time\n"
        "children = []\n"
        "for _ in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            hog = bytearray(b'\\x01') * (200 * 2**20)\n"
        "            time.sleep(3)\n"
        "        finally:\n"
        "            os._exit(0)\n"
        "    children.append(pid)\n"
        "print(sorted(os.waitpid(pid, 0)[1] for pid in children))\n"
    )
    result = _run(["--memory-mb=400", "--max-processes=20", "--cgroup=test-memory"], code)
    events = cgroup_events("test-memory")
    remove_cgroups("test-memory")
    assert "9]" in result.stdout, "one child must have been killed"
    assert events.oom_kills >= 1


def test_a_fork_bomb_is_counted_as_refused_forks() -> None:
    code = (
        "import os, time\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(1); os._exit(0)\n"
        "    except OSError:\n"
        "        break\n"
    )
    _run(["--max-processes=10", "--cgroup=test-refused"], code)
    events = cgroup_events("test-refused")
    remove_cgroups("test-refused")
    assert events.forks_refused >= 1


def test_the_grader_environment_does_not_reach_the_command() -> None:
    result = subprocess.run(
        [*CONFINE, "--", sys.executable, "-c", "import os; print(sorted(os.environ))"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "GRADER_SECRET": "x"},
    )
    assert "GRADER_SECRET" not in result.stdout and "PATH" in result.stdout
