"""A throw-away course hub for the JupyterHub end-to-end test.

It creates real Unix accounts (with passwords, for PAM), a copy of the course in a
temporary folder with its own exchange, and starts the hub with the deployment's
one command, ``deploy/course_hub.py``. :meth:`CourseHub.close` undoes all of it: the
hub and every process the test accounts started, the accounts, the ACL entries that
let them run this Python where it lives in a folder they may not search (a Python
installed under /root), and the temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
sys.path.insert(0, str(DEPLOY))

import course_hub  # noqa: E402  (deploy/ is not a package)

ASSIGNMENT = "forward_pass"
START_TIMEOUT = 120
STOP_TIMEOUT = 60
PORTS_PER_HUB = 4  # the proxy, its API, the hub, the course service


@dataclass(frozen=True)
class Account:
    """A Unix account of the test and the password it logs in with."""

    name: str
    password: str

    @property
    def entry(self) -> pwd.struct_passwd:
        return pwd.getpwnam(self.name)

    @property
    def home(self) -> Path:
        return Path(self.entry.pw_dir)

    def run(self, argv: list[str], **options: object) -> subprocess.CompletedProcess[str]:
        """``argv`` as this account, with its own groups and environment."""
        entry = self.entry
        options.setdefault("env", {"HOME": entry.pw_dir, "USER": self.name, "PATH": "/usr/bin"})
        return subprocess.run(
            argv,
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=os.getgrouplist(self.name, entry.pw_gid),
            capture_output=True,
            text=True,
            **options,
        )


@dataclass
class CourseHub:
    """The hub under test: its URL, the course copy, the accounts by role."""

    root: Path
    course: course_hub.CourseSettings
    accounts: dict[str, Account] = field(default_factory=dict)
    hidden_python: list[Path] = field(default_factory=list)
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "hub.log"

    @property
    def grader(self) -> Account:
        return self.accounts["grader"]

    @property
    def people(self) -> dict[str, Account]:
        return {role: account for role, account in self.accounts.items() if role != "grader"}

    def add_account(self, role: str, prefix: str) -> None:
        name = f"{prefix}-{role}"
        self.accounts[role] = Account(name, secrets.token_urlsafe(12))
        course_hub.ensure_account(name)
        subprocess.run(
            ["chpasswd"], input=f"{name}:{self.accounts[role].password}", text=True, check=True
        )
        for folder in self.hidden_python:
            subprocess.run(["setfacl", "-m", f"u:{name}:x", str(folder)], check=True)

    def write_roster(self, roles: dict[str, str]) -> Path:
        """The roster (TOML): the grading account, then the accounts of each roster key."""
        lines = [f"grader = {json.dumps(self.grader.name)}"]
        for key in dict.fromkeys(roles.values()):
            names = [self.accounts[role].name for role, of in roles.items() if of == key]
            lines.append(f"{key} = {json.dumps(names)}")
        roster = self.root / "roster.toml"
        roster.write_text("\n".join(lines) + "\n")
        return roster

    def as_instructor(self, argv: list[str]) -> str:
        """What the instructor runs in the course service's terminal; returns its output."""
        environment = course_hub.server_environment(self.course, "course") | {
            "HOME": str(self.grader.home),
            "USER": self.grader.name,
        }
        result = self.grader.run(argv, cwd=self.course.root, env=environment, timeout=300)
        assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def start(self, roster: Path) -> None:
        port = free_port_block(PORTS_PER_HUB)
        self.url = f"http://127.0.0.1:{port}"
        command = [
            *(sys.executable, str(DEPLOY / "course_hub.py")),
            *("--course", str(self.course.root), "--roster", str(roster)),
            *("--ip", "127.0.0.1", "--port", str(port), "--state", str(self.root / "state")),
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """The hub answers, and the course service is routed (it redirects to log-in)."""
        assert self.process is not None
        service = f"{self.url}/services/{self.course.course_id}/"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub stopped:\n{self.log_tail()}")
            if _status(f"{self.url}/hub/health") == 200 and _status(service) == 302:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the hub was not ready in {START_TIMEOUT} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""

    def close(self) -> None:
        """Stop the accounts' processes and the hub; remove the accounts and the files.

        The servers go first: a Jupyter server outlives the SIGINT that the hub's own
        clean-up sends, which would then wait half a minute for each.
        """
        uids = {account.entry.pw_uid for account in self.accounts.values() if _exists(account)}
        _stop_processes_of(uids)
        if self.process is not None:
            _stop_hub(self.process)
        self._kill_leftover_proxy()
        _stop_processes_of(uids)
        for account in self.accounts.values():
            if _exists(account):
                for folder in self.hidden_python:
                    revoke_search(folder, account.entry.pw_uid)
                subprocess.run(["userdel", "--remove", account.name], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_leftover_proxy(self) -> None:
        """The proxy of a hub that could not clean up, known by its pid file and port."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.root / "state" / "proxy.pid").read_text())
            if f"--port {self.url.rsplit(':', 1)[1]}" in _command_line(pid):
                os.kill(pid, signal.SIGKILL)


def open_course_hub(roles: dict[str, str]) -> CourseHub:
    """A hub for accounts ``<prefix>-<role>`` (``roles`` maps a role to its roster key)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-hub-"))
    os.chmod(root, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    hub = CourseHub(root, make_course(root), hidden_python=folders_hiding_python())
    prefix = "hub" + secrets.token_hex(3)
    try:
        for role in ("grader", *roles):
            hub.add_account(role, prefix)
        hub.start(hub.write_roster(roles))
    except BaseException:
        hub.close()
        raise
    return hub


def make_course(root: Path) -> course_hub.CourseSettings:
    """A copy of the course with one assignment and an exchange of its own."""
    course = root / "course"
    shutil.copytree(REPO / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    config = (REPO / "nbgrader_config.py").read_text()
    config += f"\nc.Exchange.root = {str(root / 'exchange')!r}\n"
    (course / "nbgrader_config.py").write_text(config)
    return course_hub.CourseSettings.load(course)


def folders_hiding_python() -> list[Path]:
    """Folders on the way to this Python that other accounts may not search."""
    paths = {Path(p).resolve() for p in (sys.executable, sys.prefix, sys.base_prefix)}
    return sorted(
        {
            folder
            for path in paths
            for folder in path.parents
            if not folder.stat().st_mode & stat.S_IXOTH
        }
    )


def revoke_search(folder: Path, uid: int) -> None:
    """Remove the test's ACL entry; drop the ACL when no other named entry is left."""
    subprocess.run(["setfacl", "-x", f"u:{uid}", str(folder)], check=True)
    entries = subprocess.run(
        ["getfacl", "--omit-header", "--numeric", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not any(entry.split(":")[1] for entry in entries if entry.startswith(("user:", "group:"))):
        subprocess.run(["setfacl", "--remove-all", str(folder)], check=True)


def free_port_block(size: int) -> int:
    """A port ``p`` such that ``p`` to ``p + size - 1`` are free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size < 65536 and all(_is_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object) -> None:
        return None


def _status(url: str) -> int | None:
    """The HTTP status of ``url``, redirects not followed; None when nothing answers."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _exists(account: Account) -> bool:
    try:
        pwd.getpwnam(account.name)
    except KeyError:
        return False
    return True


def _command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _processes_of(uids: set[int]) -> list[int]:
    """Live processes of ``uids`` (zombies wait for their parent, the hub, to reap them)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if not entry.name.isdigit() or entry.stat().st_uid not in uids:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                found.append(int(entry.name))
    return found


def _stop_processes_of(uids: set[int]) -> None:
    """SIGTERM every process of the test accounts (all started by the test), then SIGKILL."""
    for pid in _processes_of(uids):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _processes_of(uids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _processes_of(uids):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _stop_hub(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: JupyterHub removes its routes and stops the proxy itself."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
