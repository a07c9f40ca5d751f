"""Start the course's JupyterHub on this machine: the one command, run as root.

    sudo .venv/bin/python deploy/course_hub.py --course /srv/intro-deep-learning \\
        --roster /srv/intro-deep-learning-roster.toml

Before JupyterHub starts, it provisions (idempotently) what the hub relies on: one
Unix account per person of the roster and one grading account, private home folders,
the course folder owned by the grading account and closed to everyone else, and
nbgrader's exchange; and it installs configurable-http-proxy from
``deploy/proxy/package-lock.json`` on first use. ``deploy/jupyterhub_config.py``
reads its settings through :meth:`HubSettings.from_environment`.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
PROXY_DIR = DEPLOY / "proxy"
PROXY_BIN = PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
JUPYTER_CONFIG = DEPLOY / "jupyter"
HUB_CONFIG = DEPLOY / "jupyterhub_config.py"
BIN_DIR = Path(sys.executable).parent
DEFAULT_EXCHANGE_ROOT = "/srv/nbgrader/exchange"
DEFAULT_STATE = DEPLOY.parent / "build" / "jupyterhub"
USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
ENV_PREFIX = "AUTOGRADER_HUB_"

# Exchange modes (nbgrader's own, created up front so that no student can create the
# course's folder first and own it). The root must be o+rwx for nbgrader; the sticky
# bit keeps anyone from removing what another user put there.
EXCHANGE_ROOT_MODE = 0o1777
EXCHANGE_MODES = {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}


@dataclass(frozen=True)
class CourseSettings:
    """What the hub needs from the course's ``nbgrader_config.py``."""

    root: Path
    course_id: str
    exchange_root: Path
    cell_timeout: int

    @classmethod
    def load(cls, root: Path) -> CourseSettings:
        from autograder.course import Course
        from autograder.settings import load_config

        course = Course.find(root)
        config = load_config(course)
        return cls(
            root=course.root,
            course_id=str(config.CourseDirectory.course_id),
            exchange_root=Path(config.get("Exchange", {}).get("root", DEFAULT_EXCHANGE_ROOT)),
            cell_timeout=int(config.get("Execute", {}).get("timeout", 30)),
        )


@dataclass(frozen=True)
class Roster:
    """Who takes part, by Unix account name, and the account that owns the course."""

    instructors: tuple[str, ...]
    tas: tuple[str, ...]
    students: tuple[str, ...]
    grader: str

    @classmethod
    def load(cls, path: Path, course_id: str) -> Roster:
        data = tomllib.loads(path.read_text())
        roster = cls(
            instructors=tuple(data.get("instructors", ())),
            tas=tuple(data.get("tas", ())),
            students=tuple(data.get("students", ())),
            grader=data.get("grader", f"grader-{course_id}"),
        )
        roster.check()
        return roster

    @property
    def people(self) -> tuple[str, ...]:
        return self.instructors + self.tas + self.students

    def check(self) -> None:
        """Valid Unix names, each in one role only, the grading account nobody's."""
        names = [*self.people, self.grader]
        invalid = [name for name in names if not USERNAME.match(name)]
        if invalid:
            raise ValueError(f"not valid Unix account names: {invalid}")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"in more than one role (or also the grading account): {repeated}")
        if "root" in names:
            raise ValueError("root cannot be in the roster")


@dataclass(frozen=True)
class HubSettings:
    """Everything the hub configuration needs; passed to it through the environment."""

    course: CourseSettings
    roster: Roster
    roster_file: Path
    state: Path
    ip: str
    port: int

    @property
    def proxy_api_port(self) -> int:
        return self.port + 1

    @property
    def hub_port(self) -> int:
        return self.port + 2

    @property
    def service_port(self) -> int:
        return self.port + 3

    def environment(self) -> dict[str, str]:
        return {
            ENV_PREFIX + "COURSE": str(self.course.root),
            ENV_PREFIX + "ROSTER": str(self.roster_file),
            ENV_PREFIX + "STATE": str(self.state),
            ENV_PREFIX + "IP": self.ip,
            ENV_PREFIX + "PORT": str(self.port),
        }

    @classmethod
    def from_environment(cls) -> HubSettings:
        course = CourseSettings.load(Path(os.environ[ENV_PREFIX + "COURSE"]))
        roster_file = Path(os.environ[ENV_PREFIX + "ROSTER"])
        return cls(
            course=course,
            roster=Roster.load(roster_file, course.course_id),
            roster_file=roster_file,
            state=Path(os.environ[ENV_PREFIX + "STATE"]),
            ip=os.environ[ENV_PREFIX + "IP"],
            port=int(os.environ[ENV_PREFIX + "PORT"]),
        )


def server_environment(course: CourseSettings, kind: str) -> dict[str, str]:
    """Environment of a server the hub starts: ``kind`` is ``personal`` or ``course``.

    Kernels inherit it, so a student's Validate runs with the interpreter, packages and
    kernel environment that grading uses.
    """
    from autograder.settings import KERNEL_ENVIRONMENT

    return {
        "PATH": f"{BIN_DIR}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "JUPYTER_CONFIG_PATH": os.pathsep.join(
            [str(JUPYTER_CONFIG / kind), str(JUPYTER_CONFIG / "common")]
        ),
        "AUTOGRADER_COURSE_ID": course.course_id,
        "AUTOGRADER_EXCHANGE_ROOT": str(course.exchange_root),
        "AUTOGRADER_CELL_TIMEOUT": str(course.cell_timeout),
        **KERNEL_ENVIRONMENT,
    }


def ensure_account(name: str) -> None:
    """A Unix account with a private home folder (created without a password)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", name],
            check=True,
        )
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)


def accounts_without_password(names: tuple[str, ...]) -> list[str]:
    """Accounts PAM cannot log in yet (no password, or a locked one)."""
    fields = (line.split(":") for line in Path("/etc/shadow").read_text().splitlines())
    hashes = {entry[0]: entry[1] for entry in fields if len(entry) > 1}
    return [name for name in names if hashes.get(name, "")[:1] in ("", "!", "*")]


def own_course(course: CourseSettings, grader: str) -> None:
    """The course folder belongs to the grading account and is closed to others."""
    subprocess.run(["chown", "-R", f"{grader}:", str(course.root)], check=True)
    os.chmod(course.root, 0o700)


def prepare_exchange(course: CourseSettings, grader: str) -> None:
    """nbgrader's exchange root and the course's folders in it, owned by the grader."""
    account = pwd.getpwnam(grader)
    course.exchange_root.mkdir(parents=True, exist_ok=True)
    os.chmod(course.exchange_root, EXCHANGE_ROOT_MODE)
    for name, mode in EXCHANGE_MODES.items():
        folder = course.exchange_root / course.course_id / name
        folder.mkdir(exist_ok=True)
        os.chown(folder, account.pw_uid, account.pw_gid)
        os.chmod(folder, mode)


def accounts_without_python(names: tuple[str, ...]) -> list[str]:
    """Accounts that cannot run this Python environment (their servers would not start)."""
    failing = []
    for name in names:
        account = pwd.getpwnam(name)
        try:
            subprocess.run(
                [sys.executable, "-c", ""],
                user=account.pw_uid,
                group=account.pw_gid,
                extra_groups=os.getgrouplist(name, account.pw_gid),
                cwd="/",
                check=True,
            )
        except (OSError, subprocess.CalledProcessError):
            failing.append(name)
    return failing


def provision(course: CourseSettings, roster: Roster) -> None:
    accounts = (*roster.people, roster.grader)
    for name in accounts:
        ensure_account(name)
    failing = accounts_without_python(accounts)
    if failing:
        sys.exit(
            f"{', '.join(failing)} cannot run {sys.executable}: every account needs read and "
            "search permission on the Python environment and the interpreter it is based on "
            "(see deploy/README.md)"
        )
    own_course(course, roster.grader)
    prepare_exchange(course, roster.grader)
    missing = accounts_without_password(roster.people)
    if missing:
        print(f"no password yet (set one with `passwd NAME`): {', '.join(missing)}")


def install_proxy() -> None:
    """configurable-http-proxy, exactly as locked, into deploy/proxy/node_modules."""
    if not PROXY_BIN.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROXY_DIR, check=True)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="course_hub.py", description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, required=True, help="The course folder.")
    parser.add_argument("--roster", type=Path, required=True, help="The roster (TOML).")
    parser.add_argument("--ip", default="127.0.0.1", help="Address users connect to.")
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="Port users connect to; the next three serve the proxy's API, the hub "
        "and the course service on 127.0.0.1.",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=DEFAULT_STATE,
        help="The hub's database and secrets (default: build/jupyterhub).",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    if os.geteuid() != 0:
        sys.exit("course_hub.py runs as root: it creates accounts and starts their servers")
    course = CourseSettings.load(arguments.course)
    roster_file = arguments.roster.resolve()
    roster = Roster.load(roster_file, course.course_id)
    provision(course, roster)
    install_proxy()
    state = arguments.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    settings = HubSettings(course, roster, roster_file, state, arguments.ip, arguments.port)
    os.chdir(state)
    hub = str(BIN_DIR / "jupyterhub")
    os.execve(hub, [hub, "--config", str(HUB_CONFIG)], os.environ | settings.environment())


if __name__ == "__main__":
    main()
