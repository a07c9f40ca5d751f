"""A throwaway PostgreSQL server for the tests: a real one, as a course would use.

``initdb`` makes a cluster in a temporary folder and ``pg_ctl`` starts it on a free
port of 127.0.0.1, with its unix socket in that folder and nothing else listening.
PostgreSQL refuses to run as root, so under root the server runs as Debian's
``postgres`` user (``runuser``), which owns the folder. Connections over TCP need
the password made here; the folder is removed when the server stops.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

DEBIAN_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
SUPERUSER = "autograder"
START_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


def binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's newest version, else PATH's."""
    versions = sorted(
        (p for p in DEBIAN_ROOT.glob("*/bin") if (p / "pg_ctl").is_file()),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)],
    )
    if versions:
        return versions[-1]
    found = shutil.which("pg_ctl")
    if found is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries (pg_ctl) in {DEBIAN_ROOT}/*/bin or on PATH; "
            "scripts/setup.sh installs Debian's postgresql"
        )
    return Path(found).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One running server; :meth:`stop` ends it and removes its folder."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.as_user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self.as_user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no {SERVER_USER!r} user to run the "
                    "server as (PostgreSQL refuses root)"
                ) from None
        self.password = secrets.token_hex(16)
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-postgres-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "socket"
        self.log = self.folder / "server.log"
        self.port = 0
        self.running = False

    def start(self) -> None:
        try:
            self._initdb()
            self._start()
        except BaseException:
            self.stop()
            raise

    def _own(self, path: Path) -> None:
        if self.as_user is not None:
            os.chown(path, self.as_user.pw_uid, self.as_user.pw_gid)

    def _server_command(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if self.as_user is not None else []
        return subprocess.run(
            [*prefix, *command],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=START_SECONDS + 30,
        )

    def _initdb(self) -> None:
        self.folder.chmod(0o700)
        self._own(self.folder)
        self.socket_dir.mkdir(mode=0o700)
        self._own(self.socket_dir)
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        self._own(password_file)
        done = self._server_command(
            str(self.bin / "initdb"),
            f"--pgdata={self.data}",
            f"--username={SUPERUSER}",
            f"--pwfile={password_file}",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        password_file.unlink()
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed:\n{done.stdout}{done.stderr}")

    def _start(self) -> None:
        # A port free a moment ago may be taken by the time the server binds: try again.
        problem = ""
        for _ in range(3):
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.socket_dir} "
                # A scratch server: durability is not wanted, speed is.
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._server_command(
                str(self.bin / "pg_ctl"),
                f"--pgdata={self.data}",
                f"--log={self.log}",
                f"--options={options}",
                f"--timeout={START_SECONDS}",
                "--wait",
                "start",
            )
            if done.returncode == 0:
                self.running = True
                return
            log = self.log.read_text(errors="replace") if self.log.is_file() else ""
            problem = f"pg_ctl start failed:\n{done.stdout}{done.stderr}\n{log[-3000:]}"
            if "already in use" not in problem:
                break
        raise PostgresUnavailable(problem)

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server (psycopg2 over TCP)."""
        return f"postgresql+psycopg2://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        from sqlalchemy import create_engine, text

        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name}"))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and remove its folder."""
        try:
            if self.running or (self.data / "postmaster.pid").is_file():
                for mode in ("fast", "immediate"):
                    done = self._server_command(
                        str(self.bin / "pg_ctl"),
                        f"--pgdata={self.data}",
                        f"--mode={mode}",
                        "--wait",
                        "stop",
                    )
                    if done.returncode == 0:
                        break
                self.running = False
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
