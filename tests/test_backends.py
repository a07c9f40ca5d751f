"""Unit tests of the isolation back ends' command lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from autograder.backends import (
    DockerBackend,
    LocalBackend,
    SandboxBackend,
    make_backend,
    matplotlib_font_list,
)
from autograder.settings import (
    THREAD_VARIABLES,
    Limits,
    limits_from,
    load_settings,
    thread_environment,
)

LIMITS = Limits(
    cell_timeout=60, submission_timeout=600, memory_mb=4096, max_processes=256, cpu_seconds=900
)
WORK = Path("/course/autograded/alice/forward_pass")
RUN = Path("/tmp/autograder-kernel-abc")


def test_docker_command_line_is_exact() -> None:
    argv = DockerBackend("intro-dl-autograder:cpu", cpus=2).kernel_argv(WORK, RUN, LIMITS)
    assert argv == [
        "docker", "run", "--rm",
        "--network", "none",
        "--read-only", "--tmpfs", "/tmp",
        "--memory=4096m", "--memory-swap=4096m",
        "--cpus=2", "--pids-limit=256", "--ulimit=cpu=900",
        "--volume", "/course/autograded/alice/forward_pass:/grade/submission",
        "--volume", "/tmp/autograder-kernel-abc:/tmp/autograder-kernel-abc",
        "--workdir", "/grade/submission",
        "--env", "HOME=/tmp",
        "--env", "AUTOGRADER_SEED",
        "--env", "OMP_NUM_THREADS", "--env", "OPENBLAS_NUM_THREADS", "--env", "MKL_NUM_THREADS",
        "--env", "TF_NUM_INTRAOP_THREADS", "--env", "TF_NUM_INTEROP_THREADS",
        "intro-dl-autograder:cpu",
        "python", "-m", "ipykernel_launcher", "-f", "{connection_file}",
    ]  # fmt: skip


def test_docker_asks_for_gpus_only_when_told() -> None:
    with_gpus = DockerBackend("intro-dl-autograder:gpu", gpus=True).kernel_argv(WORK, RUN, LIMITS)
    assert with_gpus[with_gpus.index("--gpus") + 1] == "all"
    without = DockerBackend("intro-dl-autograder:cpu").kernel_argv(WORK, RUN, LIMITS)
    assert "--gpus" not in without


def test_sandbox_unshares_network_and_pids_and_binds_only_the_workdir_writable() -> None:
    argv = SandboxBackend().kernel_argv(WORK, RUN, LIMITS)
    assert argv[:3] == [sys.executable, "-m", "autograder.confine"]
    assert "--memory-mb=4096" in argv and "--max-processes=256" in argv
    assert f"--cgroup={RUN.name}" in argv
    bwrap = argv[argv.index("bwrap") :]
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in bwrap
    writable = [bwrap[i + 1] for i, arg in enumerate(bwrap) if arg == "--bind"]
    assert writable == [str(WORK), str(RUN)]
    assert bwrap[bwrap.index("--tmpfs") + 1] == "/tmp"
    assert bwrap.index("--tmpfs") < bwrap.index("--ro-bind"), "/tmp must not hide Python"
    assert bwrap[bwrap.index("--chdir") + 1] == str(WORK)
    assert argv[-4:] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]


def test_sandbox_does_not_expose_the_course_source(course) -> None:
    readable = [str(p) for p in SandboxBackend().readonly_paths()]
    assert str(course.root) not in readable
    assert str(course.source_dir) not in readable


def test_local_says_it_is_not_isolated() -> None:
    backend = LocalBackend()
    assert not backend.isolated
    assert "NOT isolated" in backend.describe()
    assert backend.kernel_argv(WORK, RUN, LIMITS)[0] == sys.executable


def test_unknown_backend_is_rejected() -> None:
    assert make_backend("local").name == "local"
    with pytest.raises(ValueError, match="sandbox, docker or local"):
        make_backend("vm")


def test_sandboxed_kernels_read_the_trusted_font_list() -> None:
    font_list = matplotlib_font_list()
    assert font_list is not None and font_list.is_file()
    bwrap = SandboxBackend().kernel_argv(WORK, RUN, LIMITS)
    at = bwrap.index(str(font_list))
    assert bwrap[at - 1 : at + 2] == [
        "--ro-bind",
        str(font_list),
        f"/tmp/matplotlib/{font_list.name}",
    ]
    assert bwrap.index("--tmpfs") < at
    assert bwrap[bwrap.index("MPLCONFIGDIR") + 1] == "/tmp/matplotlib"


def test_kernel_threads_share_the_cores_among_workers(course) -> None:
    cores = os.cpu_count() or 1
    for workers in (1, 2, 64):
        limits = limits_from(course, load_settings(course, workers=workers))
        assert limits.threads == max(1, cores // workers)
    assert limits_from(course, load_settings(course, kernel_threads=3)).threads == 3
    assert thread_environment(2) == dict.fromkeys(THREAD_VARIABLES, "2")
    assert {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"} <= set(
        THREAD_VARIABLES
    )
