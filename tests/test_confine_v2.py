"""The limits wrapper on cgroup v2: delegation, the no-internal-process rule, refusal.

This machine runs cgroup v1 (tests/test_confine.py runs against it), so v2 is shown two
ways: a simulated v2 tree in a folder, whose kernel side (:class:`FakeCgroup2`) keeps the
rules of the real one, and a real cgroup2 filesystem mounted by root, whose controllers
here do not include pids.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import submit_answers

from autograder import confine, records
from autograder.confine import CgroupEvents, cgroup_events, join_cgroups, remove_cgroups
from autograder.course import Course
from autograder.errors import CourseError
from autograder.pipeline import BatchGrader
from autograder.settings import limits_from, load_settings

ME = str(os.getpid())
SHELL = "4242"  # another process of the grader's own group (its shell, a worker)
MEMORY = 512 * 2**20
# The files the kernel gives a group for each controller its parent enables (a subset).
INTERFACE = {
    "pids": {"pids.max": "max\n", "pids.current": "0\n", "pids.events": "max 0\n"},
    "memory": {
        "memory.max": "max\n",
        "memory.swap.max": "max\n",
        "memory.current": "0\n",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    },
    "cpu": {"cpu.max": "max 100000\n", "cpu.weight": "100\n"},
}
CORE = ("cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "cgroup.events")


def words(path: Path) -> list[str]:
    return path.read_text().split()


class FakeCgroup2:
    """A cgroup v2 tree in a folder, kept as the kernel keeps a cgroup2 mount.

    confine makes, writes and removes groups only through ``confine._make_group``,
    ``_write`` and ``_remove_group``; these stand in for the kernel's side of them:

    - a new group gets the core files, ``cgroup.controllers`` listing what its parent's
      ``cgroup.subtree_control`` enables, and the interface files of exactly those
      controllers (``pids.max``, ``memory.events`` ...); enabling a controller later gives
      the existing children its files too;
    - ``+c`` in ``cgroup.subtree_control`` fails with ENOENT unless ``c`` is in the
      group's ``cgroup.controllers``, and with EBUSY in a group other than the root
      that holds processes (no internal processes);
    - a pid written to ``cgroup.procs`` moves that process out of its group; it fails
      with ESRCH for an unknown process and with EBUSY for a group other than the root
      that enables controllers for its children; /proc/self/cgroup follows this process;
    - a file the kernel did not create cannot be written (EACCES);
    - a group holding processes or child groups cannot be removed (EBUSY).
    """

    def __init__(self, root: Path, available: list[str]) -> None:
        self.root = root
        self.proc_self_cgroup = root.parent / "proc-self-cgroup"
        root.mkdir()
        for name in CORE:
            (root / name).write_text("")
        (root / "cgroup.controllers").write_text(" ".join(available) + "\n")
        self.proc_self_cgroup.write_text("0::/\n")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(confine, "CGROUP_ROOT", self.root)
        monkeypatch.setattr(confine, "PROC_SELF_CGROUP", self.proc_self_cgroup)
        monkeypatch.setattr(confine, "_make_group", self.make_group)
        monkeypatch.setattr(confine, "_write", self.write)
        monkeypatch.setattr(confine, "_remove_group", self.remove_group)

    def path(self, name: str) -> Path:
        return self.root / name.strip("/")

    def make_group(self, path: Path) -> None:
        if path.is_dir():
            return
        if not (path.parent / "cgroup.procs").is_file():
            raise FileNotFoundError(errno.ENOENT, "no such group", str(path.parent))
        path.mkdir()
        for name in CORE:
            (path / name).write_text("")
        self._give(path, words(path.parent / "cgroup.subtree_control"))

    def _give(self, group: Path, controllers: list[str]) -> None:
        (group / "cgroup.controllers").write_text(" ".join(controllers) + "\n")
        for controller in controllers:
            for name, content in INTERFACE.get(controller, {}).items():
                if not (group / name).exists():
                    (group / name).write_text(content)

    def write(self, path: Path, value: str) -> None:
        group = path.parent
        if not path.is_file():
            raise PermissionError(errno.EACCES, "the kernel made no such file", str(path))
        if path.name == "cgroup.subtree_control":
            self._control(group, value)
        elif path.name == "cgroup.procs":
            self.move(value.strip(), group)
        else:
            path.write_text(value)

    def _control(self, group: Path, value: str) -> None:
        enabled = words(group / "cgroup.subtree_control")
        for token in value.split():
            sign, controller = token[0], token[1:]
            if controller not in words(group / "cgroup.controllers"):
                raise OSError(errno.ENOENT, "controller not available", str(group))
            if sign == "+" and group != self.root and words(group / "cgroup.procs"):
                raise OSError(errno.EBUSY, "the group holds processes", str(group))
            enabled = [c for c in enabled if c != controller] + ([controller] * (sign == "+"))
        (group / "cgroup.subtree_control").write_text(" ".join(enabled) + "\n")
        for child in group.iterdir():
            if child.is_dir():
                self._give(child, enabled)

    def groups(self) -> list[Path]:
        return [self.root, *(p for p in sorted(self.root.rglob("*")) if p.is_dir())]

    def move(self, pid: str, group: Path) -> None:
        """Move process ``pid`` to ``group`` (the test also moves processes itself)."""
        if not any(pid in words(g / "cgroup.procs") for g in self.groups()) and pid != ME:
            raise ProcessLookupError(errno.ESRCH, "no such process")
        if group != self.root and words(group / "cgroup.subtree_control"):
            raise OSError(errno.EBUSY, "the group enables controllers", str(group))
        self.place(pid, group)

    def place(self, pid: str, group: Path) -> None:
        """Where a process is at the start (a process started there)."""
        for other in self.groups():
            held = words(other / "cgroup.procs")
            if pid in held:
                (other / "cgroup.procs").write_text("".join(f"{p}\n" for p in held if p != pid))
        (group / "cgroup.procs").write_text(
            "".join(f"{p}\n" for p in [*words(group / "cgroup.procs"), pid])
        )
        if pid == ME:
            self.proc_self_cgroup.write_text(f"0::{self.name(group)}\n")

    def name(self, group: Path) -> str:
        """``group`` as /proc/self/cgroup names it."""
        return "/" + group.relative_to(self.root).as_posix().lstrip(".")

    def remove_group(self, path: Path) -> None:
        if words(path / "cgroup.procs") or any(p.is_dir() for p in path.iterdir()):
            raise OSError(errno.EBUSY, "the group is in use", str(path))
        shutil.rmtree(path)


def delegated_tree(tmp_path: Path, service_gets: str = "memory pids") -> FakeCgroup2:
    """The grader runs in /grader.slice/grader.service with its shell, as a systemd
    service does; its parent delegates ``service_gets`` to it."""
    kernel = FakeCgroup2(tmp_path / "cgroup", ["cpu", "io", "memory", "pids"])
    kernel.write(kernel.root / "cgroup.subtree_control", "+cpu +memory +pids")
    kernel.make_group(kernel.path("grader.slice"))
    enable = " ".join(f"+{c}" for c in service_gets.split())
    kernel.write(kernel.path("grader.slice/cgroup.subtree_control"), enable)
    service = kernel.path("grader.slice/grader.service")
    kernel.make_group(service)
    kernel.place(SHELL, service)
    kernel.place(ME, service)
    return kernel


@pytest.fixture()
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confine, "_as_root", lambda: True)


@pytest.mark.parametrize("own", ["/", "/grader.slice/grader.service"])
def test_v2_enables_pids_and_memory_down_to_the_group_and_joins_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own: str
) -> None:
    if own == "/":
        kernel = FakeCgroup2(tmp_path / "cgroup", ["cpu", "io", "memory", "pids"])
        kernel.place(SHELL, kernel.root)
        kernel.place(ME, kernel.root)
    else:
        kernel = delegated_tree(tmp_path)
    kernel.install(monkeypatch)
    base = kernel.path(own)

    assert join_cgroups("kernel-1", 40, MEMORY) == []

    group = base / "autograder" / "kernel-1"
    assert {"pids", "memory"} <= set(words(base / "cgroup.subtree_control"))
    assert {"pids", "memory"} <= set(words(base / "autograder" / "cgroup.subtree_control"))
    assert (group / "pids.max").read_text() == "40"
    assert (group / "memory.max").read_text() == str(MEMORY)
    assert (group / "memory.swap.max").read_text() == "0"
    assert words(group / "cgroup.procs") == [ME]
    assert kernel.proc_self_cgroup.read_text() == f"0::{kernel.name(group)}\n"
    leaf = base / confine.GRADER_LEAF
    if own == "/":
        # The root may hold processes and enable controllers: nothing moves.
        assert words(base / "cgroup.procs") == [SHELL] and not leaf.exists()
    else:
        # No internal processes: the grader's other processes went to the leaf first.
        assert words(base / "cgroup.procs") == [] and words(leaf / "cgroup.procs") == [SHELL]


def test_v2_groups_of_later_kernels_go_beside_the_first_not_under_the_leaf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel = delegated_tree(tmp_path)
    kernel.install(monkeypatch)
    service = kernel.path("grader.slice/grader.service")
    assert join_cgroups("kernel-1", 40, MEMORY) == []
    # The next confine is started by a worker that now lives in the leaf.
    kernel.move(ME, service / confine.GRADER_LEAF)
    assert join_cgroups("kernel-2", 30, 0) == []
    assert (service / "autograder" / "kernel-2" / "pids.max").read_text() == "30"
    assert not (service / confine.GRADER_LEAF / "autograder").exists()


def test_v2_events_are_read_and_groups_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel = delegated_tree(tmp_path)
    kernel.install(monkeypatch)
    service = kernel.path("grader.slice/grader.service")
    leaf = service / confine.GRADER_LEAF
    assert join_cgroups("kernel-1", 40, MEMORY) == []
    kernel.move(ME, leaf)  # each confine is a new process of the worker, in the leaf
    assert join_cgroups("kernel-2", 40, MEMORY) == []
    kernel.move(ME, leaf)
    kernel.place("5151", service / "autograder" / "kernel-2")  # still running
    group = service / "autograder" / "kernel-1"
    # What the kernel counts while a sandbox runs: 7 refused forks, 2 OOM kills.
    (group / "pids.events").write_text("max 7\n")
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n")
    # The sandbox ended; its worker, in the leaf, reads the events and removes the group.
    assert cgroup_events("kernel-1") == CgroupEvents(oom_kills=2, forks_refused=7)
    assert cgroup_events("kernel-2") == CgroupEvents()
    remove_cgroups("kernel-1", wait_seconds=0, stale_after=0)
    assert not group.exists()
    assert (service / "autograder" / "kernel-2").is_dir(), "a group in use must stay"


def test_v2_without_delegated_pids_root_refuses_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    kernel = delegated_tree(tmp_path, service_gets="memory")
    kernel.install(monkeypatch)
    service = kernel.path("grader.slice/grader.service")
    reason = (
        "cgroup v2 does not delegate the pids controller to the grader's cgroup "
        "/grader.slice/grader.service (its cgroup.controllers: memory)"
    )
    assert confine.process_limit_problem(40) == confine.refusal(reason)

    def must_not_run(*args: object) -> None:
        raise AssertionError("the command ran without a process limit")

    monkeypatch.setattr(confine.os, "execvpe", must_not_run)
    monkeypatch.setattr(confine.resource, "setrlimit", lambda *args: None)
    with pytest.raises(SystemExit) as refused:
        confine.main(["--max-processes=40", "--memory-mb=64", "--", "true"])
    assert refused.value.code == f"autograder.confine: {confine.refusal(reason)}"
    assert "\n" not in str(refused.value.code)
    # Nothing was made: no group, no leaf, no controller enabled.
    assert [p.name for p in kernel.groups()] == ["cgroup", "grader.slice", "grader.service"]
    assert words(service / "cgroup.subtree_control") == []


def test_v2_without_delegated_pids_a_user_keeps_rlimit_nproc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = delegated_tree(tmp_path, service_gets="memory")
    kernel.install(monkeypatch)
    monkeypatch.setattr(confine, "_as_root", lambda: False)
    limits: dict[int, tuple[int, int]] = {}
    ran: list[list[str]] = []
    monkeypatch.setattr(
        confine.resource, "setrlimit", lambda kind, value: limits.update({kind: value})
    )
    monkeypatch.setattr(confine.os, "execvpe", lambda file, argv, env: ran.append(argv))
    assert confine.process_limit_problem(40) is None
    confine.main(["--max-processes=40", "--memory-mb=64", "--", "true"])
    assert ran == [["true"]]
    assert limits[confine.resource.RLIMIT_NPROC] == (40, 40)
    assert "no pids cgroup; RLIMIT_NPROC only" in capsys.readouterr().err
    group = kernel.path(f"grader.slice/grader.service/autograder/kernel-{ME}")
    assert (group / "memory.max").read_text() == str(64 * 2**20)
    assert not (group / "pids.max").exists()


def test_v2_preflight_with_delegated_pids_passes_and_leaves_no_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    kernel = delegated_tree(tmp_path)
    kernel.install(monkeypatch)
    assert confine.process_limit_problem(40) is None
    parent = kernel.path("grader.slice/grader.service/autograder")
    assert [p.name for p in parent.iterdir() if p.is_dir()] == []
    assert "pids" in words(parent / "cgroup.subtree_control")


def test_a_batch_is_refused_up_front_when_no_process_limit_can_be_had(
    tiny_course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    submit_answers(tiny_course, "tiny", {"alice": {}})
    kernel = delegated_tree(tmp_path, service_gets="memory")
    kernel.install(monkeypatch)
    settings = load_settings(tiny_course, backend="sandbox", workers=1, max_processes=40)
    grader = BatchGrader(tiny_course, settings, limits_from(tiny_course, settings))
    with pytest.raises(CourseError) as refused:
        grader.grade("tiny", say=lambda line: None)
    message = str(refused.value)
    assert message.startswith("the sandbox back end cannot grade on this machine: ")
    assert "does not delegate the pids controller" in message
    assert records.load(tiny_course, "tiny", "alice") is None, "nothing was graded"


def test_the_preflight_passes_on_this_machines_cgroups_and_leaves_no_group() -> None:
    probe = confine.pids_cgroup(f"preflight-{os.getpid()}")
    if probe is None or os.geteuid() != 0:
        pytest.skip("needs root and a pids cgroup on this machine")
    assert confine.process_limit_problem(40) is None
    assert not probe.exists()


def test_without_any_cgroup_filesystem_root_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_root: None
) -> None:
    monkeypatch.setattr(confine, "CGROUP_ROOT", tmp_path)
    reason = f"{tmp_path} has no pids cgroup (v1 or v2)"
    assert confine.process_limit_problem(40) == confine.refusal(reason)
    assert confine.process_limit_problem(0) is None, "no process limit asked for"
    assert list(tmp_path.iterdir()) == []


# A real cgroup2 filesystem: root may mount one beside this machine's v1 hierarchies.


def _groups(mount: Path) -> list[str]:
    return sorted(str(p.relative_to(mount)) for p in mount.rglob("*") if p.is_dir())


@pytest.fixture()
def real_cgroup2(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("only root can mount a cgroup2 filesystem")
    mount = tmp_path / "cgroup2"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "cgroup2", "none", str(mount)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount -t cgroup2 was refused: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        assert list(mount.iterdir()) == [], "the cgroup2 filesystem is unmounted"


def confine_in(cgroup_root: Path) -> list[str]:
    """``python -m autograder.confine`` with ``cgroup_root`` as its cgroup root."""
    code = (
        "import sys; from pathlib import Path; import autograder.confine as confine; "
        "confine.CGROUP_ROOT = Path(sys.argv[1]); confine.main(sys.argv[2:])"
    )
    return [sys.executable, "-c", code, str(cgroup_root)]


def test_a_real_cgroup2_without_pids_refuses_to_run_the_command(
    real_cgroup2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controllers = words(real_cgroup2 / "cgroup.controllers")
    if "pids" in controllers:
        pytest.skip("this machine's cgroup v2 has the pids controller: nothing to refuse")
    before = _groups(real_cgroup2)
    own = next(
        line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
        if line.startswith("0::")
    )
    delegated = words(real_cgroup2 / own.lstrip("/") / "cgroup.controllers")
    reason = (
        f"cgroup v2 does not delegate the pids controller to the grader's cgroup {own} "
        f"(its cgroup.controllers: {' '.join(delegated) or 'none'})"
    )
    ran = tmp_path / "ran"
    result = subprocess.run(
        [
            *confine_in(real_cgroup2),
            "--max-processes=10",
            "--memory-mb=256",
            "--",
            "touch",
            str(ran),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr == f"autograder.confine: {confine.refusal(reason)}\n"
    assert not ran.exists(), "the command must not run"
    monkeypatch.setattr(confine, "CGROUP_ROOT", real_cgroup2)
    assert confine.process_limit_problem(10) == confine.refusal(reason)
    assert _groups(real_cgroup2) == before, "nothing is left created"


def test_a_real_cgroup2_group_with_processes_hands_them_to_a_leaf(
    real_cgroup2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's no-internal-process rule first hand, with a controller v2 has here."""
    root = real_cgroup2
    available = words(root / "cgroup.controllers")
    controller = next((c for c in ("pids", "memory", "hugetlb", *available) if c in available), "")
    if not controller:
        pytest.skip("this machine's cgroup v2 has no controller at all")
    was_enabled = controller in words(root / "cgroup.subtree_control")
    before = _groups(root)
    base = root / f"autograder-test-{os.getpid()}"
    leaf, parent = base / confine.GRADER_LEAF, base / "autograder"
    sleeper = None
    try:
        if not was_enabled:
            (root / "cgroup.subtree_control").write_text(f"+{controller}")
        base.mkdir()
        sleeper = subprocess.Popen(["sleep", "60"])
        (base / "cgroup.procs").write_text(str(sleeper.pid))
        with pytest.raises(OSError) as busy:
            (base / "cgroup.subtree_control").write_text(f"+{controller}")
        assert busy.value.errno == errno.EBUSY

        (tmp_path / "proc-self-cgroup").write_text(f"0::/{base.name}\n")
        monkeypatch.setattr(confine, "CGROUP_ROOT", root)
        monkeypatch.setattr(confine, "PROC_SELF_CGROUP", tmp_path / "proc-self-cgroup")
        assert confine._delegate_v2(confine._v2_base(), controller) is None

        assert words(leaf / "cgroup.procs") == [str(sleeper.pid)]
        assert (
            f"0::/{base.name}/{confine.GRADER_LEAF}\n"
            in Path(f"/proc/{sleeper.pid}/cgroup").read_text()
        )
        assert controller in words(base / "cgroup.subtree_control")
        assert controller in words(parent / "cgroup.subtree_control")
        confine._make_group(parent / "kernel")
        assert list((parent / "kernel").glob(f"{controller}.*")), "the kernel gave its files"
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
        for group in (parent / "kernel", parent, leaf, base):
            deadline = time.monotonic() + 5
            while group.is_dir():
                try:
                    group.rmdir()
                except OSError:
                    assert time.monotonic() < deadline, f"{group} stays"
                    time.sleep(0.05)
        if not was_enabled:
            (root / "cgroup.subtree_control").write_text(f"-{controller}")
    assert _groups(root) == before
    assert (controller in words(root / "cgroup.subtree_control")) == was_enabled
