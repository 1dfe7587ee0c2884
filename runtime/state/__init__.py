"""The applied state: one ``open_store()`` that picks SQLite (``sqlite.py``, the default) or
PostgreSQL (``postgres.py``, for teams) from the settings, and the Protocols callers use
(``ports.py``). Both backends build on ``sql.SqlStore`` and pass the same test suite.
``url.py`` reads where the state lives; ``export.py`` moves it between backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from modelplane.runtime.state.ports import (
    TABLES,
    AuditEntry,
    HistoryEntry,
    LedgerEntry,
    LockHolder,
    StateAdmin,
    StateLedger,
    StateReader,
    StateWriter,
    Store,
    unlock_detail,
)
from modelplane.runtime.state.url import StateTarget, resolve
from modelplane.specs.project import StateSettings

__all__ = [
    "TABLES",
    "AuditEntry",
    "HistoryEntry",
    "LedgerEntry",
    "LockHolder",
    "StateAdmin",
    "StateLedger",
    "StateReader",
    "StateWriter",
    "Store",
    "existing_store",
    "open_store",
    "open_target",
    "unlock_detail",
]


def open_target(target: StateTarget) -> Store:
    if target.backend == "sqlite":
        from modelplane.runtime.state.sqlite import StateStore

        assert target.path is not None
        return StateStore(target.path)
    from modelplane.runtime.state.postgres import PostgresStore  # psycopg is imported only by those who need it

    assert target.url is not None
    return PostgresStore(target.url, target.password)


def open_store(root: Path, state: StateSettings, environ: Mapping[str, str] | None = None) -> Store:
    """The store one environment's settings name (``MODELPLANE_STATE_URL`` wins), created or migrated."""
    return open_target(resolve(root, state, environ))


def existing_store(root: Path, state: StateSettings) -> Store | None:
    """The store, or None while a SQLite file does not exist yet (planning never creates it)."""
    target = resolve(root, state)
    if target.backend == "sqlite" and not (target.path and target.path.exists()):
        return None
    return open_target(target)
