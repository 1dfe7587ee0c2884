"""State-store fixtures: a real PostgreSQL server (tests/pg_server.py), and ``store`` on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg_server import PgDatabase, pg_db, pg_server  # noqa: F401  (fixtures)

BACKENDS = ["sqlite", "postgres"]


def open_backend(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if backend == "sqlite":
        from modelplane.runtime.state.sqlite import StateStore

        return StateStore(tmp_path / "s.db")
    from modelplane.runtime.state.postgres import PostgresStore

    db: PgDatabase = request.getfixturevalue("pg_db")
    return PostgresStore(db.url, db.password)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty state store: SQLite in a temporary file, or a fresh PostgreSQL database."""
    s = open_backend(request.param, request, tmp_path)
    yield s
    s.close()
