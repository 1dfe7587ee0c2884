"""State-store fixtures: a real PostgreSQL server for the session, and ``store`` on both backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.pg_server import PASSWORD, PgServer, Unavailable


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        server = PgServer.start()
    except Unavailable as exc:
        if _in_ci():  # CI installs PostgreSQL (.ci/run): a missing server there is a failure, never a skip
            pytest.fail(f"PostgreSQL could not be started: {exc}")
        pytest.skip(f"PostgreSQL could not be started: {exc}")
    yield server
    server.stop()


@dataclass(frozen=True)
class PgDatabase:
    server: PgServer
    name: str

    @property
    def url(self) -> str:
        """Without the password (it is passed separately, as modelplane does)."""
        return self.server.url(self.name)

    password = PASSWORD


@pytest.fixture
def pg_db(pg_server: PgServer) -> Iterator[PgDatabase]:
    """A fresh, empty database on the session's server."""
    name = pg_server.create_database()
    yield PgDatabase(pg_server, name)
    pg_server.drop_database(name)


BACKENDS = ["sqlite", "postgres"]


def open_backend(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if backend == "sqlite":
        from modelplane.runtime.state_store import StateStore

        return StateStore(tmp_path / "s.db")
    from modelplane.runtime.state_pg import PostgresStore

    db: PgDatabase = request.getfixturevalue("pg_db")
    return PostgresStore(db.url, db.password)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty state store: SQLite in a temporary file, or a fresh PostgreSQL database."""
    s = open_backend(request.param, request, tmp_path)
    yield s
    s.close()
