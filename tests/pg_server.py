"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary folder, loopback, a free port.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs
as the ``postgres`` system user (``runuser``) on a folder chowned to it. The
server requires a password over TCP (scram-sha-256), so the tests exercise the
password paths that a team's database uses. Where PostgreSQL cannot start,
``unavailable`` says why: the fixtures skip locally and fail under CI.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "modelplane"
PASSWORD = "pg-T3st:s3cret/7f3a"  # a colon and a slash: the URL-quoting paths must hold
START_TIMEOUT_S = 60


class Unavailable(Exception):
    """PostgreSQL cannot be started here (not installed, no postgres user, initdb failed...)."""


def bindir() -> Path:
    """Where initdb and pg_ctl are: $MODELPLANE_PG_BINDIR, PATH, or Debian's /usr/lib/postgresql/<ver>/bin."""
    explicit = os.environ.get("MODELPLANE_PG_BINDIR")
    if explicit:  # exclusive: it names the one install to test against
        candidates = [Path(explicit)]
    else:
        found = shutil.which("pg_ctl")
        candidates = [Path(found).resolve().parent] if found else []
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
        candidates += [Path(p) for p in versions]
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise Unavailable(
        "initdb/pg_ctl not found (PATH, /usr/lib/postgresql/*/bin); install PostgreSQL "
        "(apt-get install -y postgresql; .ci/run does it) or set MODELPLANE_PG_BINDIR"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bin: Path
    base: Path
    port: int = 0
    as_user: list[str] = field(default_factory=list)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def start(cls) -> PgServer:
        pg = bindir()
        # as root the folder must be reachable by `postgres`: /tmp, not a private TMPDIR
        base = Path(tempfile.mkdtemp(prefix="modelplane-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        server = cls(pg, base)
        try:
            server._init()
            for attempt in range(3):  # a free port can be taken between probing and binding it
                server.port = _free_port()
                if server._pg_ctl_start(last=attempt == 2):
                    return server
        except BaseException:
            server.stop()
            raise
        raise AssertionError("unreachable")

    def _run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_user, *cmd], capture_output=True, text=True, timeout=START_TIMEOUT_S)

    def _init(self) -> None:
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no `postgres` user to run PostgreSQL as") from None
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_user:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        proc = self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.base / "data"),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if proc.returncode != 0:
            raise Unavailable(f"initdb failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")

    def _pg_ctl_start(self, last: bool) -> bool:
        # fsync off is safe for a test server: an immediate stop (``pause``) kills the processes, not the
        # machine, so what was written reaches disk through the OS. synchronous_commit stays on: off, a
        # commit is acknowledged before its WAL is written, and an immediate stop loses it, an outage no
        # real server has (the apply's state write made just before ``pause`` vanished, one run in four)
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.base} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        log = self.base / "server.log"
        proc = self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.base / "data"),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        if proc.returncode == 0:
            return True
        if last:
            tail = log.read_text()[-800:] if log.exists() else proc.stderr
            raise Unavailable(f"pg_ctl start failed (exit {proc.returncode}): {tail.strip()}")
        return False

    def pause(self) -> None:
        """Stop the server, keeping its data and port: an outage for a test (``resume`` ends it)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        self._pg_ctl_start(last=True)  # the same port: clients reconnect to the URL they hold

    def stop(self) -> None:
        if (self.base / "data" / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres", with_password: bool = False) -> str:
        from urllib.parse import quote

        auth = f"{USER}:{quote(PASSWORD, safe='')}" if with_password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), password=PASSWORD, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.url(), password=PASSWORD, autocommit=True) as db,
        ):
            db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_shared: list[PgServer | Unavailable] = []


def shared_server() -> PgServer:
    """One server per test process, whichever conftest or module asks first; stopped at exit."""
    if not _shared:
        try:
            server = PgServer.start()
            atexit.register(server.stop)
            _shared.append(server)
        except Unavailable as exc:
            _shared.append(exc)
    got = _shared[0]
    if isinstance(got, Unavailable):
        raise got
    return got


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    try:
        return shared_server()
    except Unavailable as exc:
        if in_ci():  # CI installs PostgreSQL (.ci/run): a missing server there is a failure, never a skip
            pytest.fail(f"PostgreSQL could not be started: {exc}")
        pytest.skip(f"PostgreSQL could not be started: {exc}")


@dataclass(frozen=True)
class PgDatabase:
    server: PgServer
    name: str
    password: str = PASSWORD

    @property
    def url(self) -> str:
        """Without the password (it is passed separately, as modelplane does)."""
        return self.server.url(self.name)


@pytest.fixture
def pg_db(pg_server: PgServer) -> Iterator[PgDatabase]:
    """A fresh, empty database on the session's server."""
    name = pg_server.create_database()
    yield PgDatabase(pg_server, name)
    pg_server.drop_database(name)
