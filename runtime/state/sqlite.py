"""The applied state: a SQLite file under ``.modelplane/`` (one per project, rows per environment).

Per environment it holds the applied snapshot (the documents as applied), a
serial that grows with every write, actions an apply left undone (the next
plan carries them), resource outputs (endpoint URLs...), the catalog of
registered nodes, notifications, an idempotency ledger, the apply history, a
lock row (who holds the environment, from where, since when) and an audit trail.
``runtime/state/postgres.py`` holds the same in PostgreSQL; ``state_backend`` names
the interface both implement.

Every write is one ``BEGIN IMMEDIATE`` transaction, made as each action
completes, so a crash or an abort leaves exactly what really happened. The
schema carries its version in ``PRAGMA user_version``; ``MIGRATIONS`` brings an
older file forward on open.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelplane.errors import ModelplaneError
from modelplane.files import private_dir, private_opener
from modelplane.runtime.state.ports import TABLES, LedgerEntry
from modelplane.runtime.state.sql import SqlStore, too_new

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE environments (environment TEXT PRIMARY KEY, serial INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE nodes (
        environment TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, file TEXT NOT NULL,
        idx INTEGER NOT NULL, data TEXT NOT NULL, serial INTEGER NOT NULL, apply_id TEXT NOT NULL,
        applied_at REAL NOT NULL, PRIMARY KEY (environment, id));
    CREATE TABLE changes (
        environment TEXT NOT NULL, serial INTEGER NOT NULL, what TEXT NOT NULL, apply_id TEXT NOT NULL,
        at REAL NOT NULL);
    CREATE INDEX changes_by_serial ON changes (environment, serial);
    CREATE TABLE pending (
        environment TEXT NOT NULL, action_id TEXT NOT NULL, type TEXT NOT NULL, target TEXT NOT NULL,
        reason TEXT NOT NULL, apply_id TEXT NOT NULL, PRIMARY KEY (environment, action_id));
    CREATE TABLE outputs (
        environment TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (environment, id));
    CREATE TABLE catalog (
        environment TEXT NOT NULL, id TEXT NOT NULL, version TEXT, data TEXT NOT NULL, apply_id TEXT NOT NULL,
        registered_at REAL NOT NULL);
    CREATE TABLE notifications (
        environment TEXT NOT NULL, apply_id TEXT NOT NULL, owner TEXT NOT NULL, message TEXT NOT NULL,
        data TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE ledger (
        key TEXT PRIMARY KEY, environment TEXT NOT NULL, apply_id TEXT NOT NULL, action_id TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL, result TEXT, started_at REAL NOT NULL,
        finished_at REAL);
    CREATE TABLE history (
        apply_id TEXT PRIMARY KEY, environment TEXT NOT NULL, plan_id TEXT NOT NULL, workflow_id TEXT NOT NULL,
        requested_by TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL, outcome TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '{}');
    """,
    # 2: why actions failed, kept with the apply (pending reasons go away once done)
    """
    ALTER TABLE history ADD COLUMN failures TEXT NOT NULL DEFAULT '{}';
    """,
    # 3: the per-environment lock row (who holds it, from where, since when) and the audit trail
    """
    CREATE TABLE locks (
        environment TEXT PRIMARY KEY, apply_id TEXT NOT NULL, holder TEXT NOT NULL, location TEXT NOT NULL,
        since REAL NOT NULL);
    CREATE TABLE audit (
        environment TEXT NOT NULL, at REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
    """,
    # 4: the store's own identity (a random id made once) and the counter that numbers its applies
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('store_id', lower(hex(randomblob(8))));
    INSERT INTO meta VALUES ('applies', '0');
    """,
    # 5: each node's history (every version applied, not just the last) and what each action returned
    # (runs, evaluations' metrics, rollouts' verdicts); the current snapshot seeds the versions
    """
    CREATE TABLE node_versions (
        environment TEXT NOT NULL, id TEXT NOT NULL, serial INTEGER NOT NULL, apply_id TEXT NOT NULL,
        at REAL NOT NULL, op TEXT NOT NULL, data TEXT);
    CREATE INDEX node_versions_by_id ON node_versions (environment, id, serial);
    INSERT INTO node_versions (environment, id, serial, apply_id, at, op, data)
        SELECT environment, id, serial, apply_id, applied_at, 'upsert', data FROM nodes ORDER BY serial, id;
    CREATE TABLE runs (
        environment TEXT NOT NULL, serial INTEGER NOT NULL, apply_id TEXT NOT NULL, action_id TEXT NOT NULL,
        type TEXT NOT NULL, target TEXT NOT NULL, status TEXT NOT NULL, output TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX runs_by_target ON runs (environment, target);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _unwritable(path: Path, exc: Exception) -> ModelplaneError:
    """The state file cannot be created or written (a read-only `.modelplane/`, a read-only mount)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return ModelplaneError(
        f"cannot open the state file {path} for writing: {reason}",
        hint=f"make {path.parent} writable by you (a read-only checkout or mount cannot hold the state), "
        "or point state.path at a writable file inside the project",
    )


class StateStore(SqlStore):
    """Reader (``StateReader``) and writer of the applied state in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():  # checked before anything is created or narrowed
            raise ModelplaneError(
                f"the state file {path} is a folder", hint="point state.path at a file, e.g. `.modelplane/state.db`"
            )
        try:
            private_dir(path.parent)
            _refuse_truncated(path)
            os.close(
                private_opener(str(path), os.O_RDWR | os.O_CREAT)
            )  # 0600 before SQLite opens it (-wal, -shm follow)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_integrity()
            self._migrate()
        except OSError as exc:
            raise _unwritable(path, exc) from None
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and ("readonly" in str(exc) or "unable to open" in str(exc)):
                raise _unwritable(path, exc) from None
            raise ModelplaneError(
                f"cannot open the state file {path}: {exc}",
                hint=f"is it a modelplane state file? restore it from a backup (`modelplane state import`), or "
                f"move it aside to start from an empty state: mv {path} {path}.broken",
            ) from None
        st = os.stat(path)
        self._file = (st.st_dev, st.st_ino)

    def _check_integrity(self) -> None:
        """A damaged file is an error with the way out, never an empty state; a foreign database likewise."""
        problems = [r[0] for r in self._db.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise ModelplaneError(
                f"the state file {self.path} is damaged: " + "; ".join(problems),
                hint=f"restore it from a backup (`modelplane state import`), or recover what SQLite can: "
                f"sqlite3 {self.path} .recover | sqlite3 {self.path}.recovered, then point state.path at it",
            )
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0 and tables:
            raise ModelplaneError(
                f"the state file {self.path} is an SQLite database of something else (tables: "
                f"{', '.join(sorted(tables)[:5])})",
                hint="point state.path at a modelplane state file, or move this one aside",
            )

    def same_file(self) -> bool:
        """Whether the path still names the file this store opened (not moved aside, deleted or replaced)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._file

    def store_id(self) -> str:
        return str(self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0])

    def next_apply_id(self) -> str:
        """A new apply's id: this store's counter and its own id, never repeated (a plan id can be)."""
        with self._tx() as db:
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='applies'")
            n = db.execute("SELECT value FROM meta WHERE key='applies'").fetchone()[0]
        return f"{n}.{self.store_id()}"

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, args).fetchall()

    def _next_serial(self, db: sqlite3.Connection, environment: str) -> int:
        row = db.execute("SELECT serial FROM environments WHERE environment=?", (environment,)).fetchone()
        serial = int(row[0] if row else 0) + 1
        db.execute(
            "INSERT INTO environments (environment, serial) VALUES (?, ?) "
            "ON CONFLICT (environment) DO UPDATE SET serial=excluded.serial",
            (environment, serial),
        )
        return serial

    def _execute_many(self, db: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        db.executemany(sql, rows)

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise too_new(f"the state file {self.path}", version, SCHEMA_VERSION)
        for n in range(version, SCHEMA_VERSION):
            with self._tx() as db:
                for statement in _statements(MIGRATIONS[n]):  # executescript would commit mid-transaction
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {n + 1}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- the idempotency ledger ---------------------------------------------------------------

    def ledger_begin(self, key: str, environment: str, apply_id: str, action_id: str) -> LedgerEntry:
        """Count an attempt; a ``done`` entry means the effect already happened (return its result)."""
        with self._tx() as db:
            row = db.execute("SELECT status, attempts, result FROM ledger WHERE key=?", (key,)).fetchone()
            if row and row[0] == "done":
                return LedgerEntry(key, action_id, "done", row[1], json.loads(row[2]) if row[2] else None)
            if row:
                db.execute("UPDATE ledger SET attempts=attempts+1, status='started' WHERE key=?", (key,))
                attempts = row[1] + 1
            else:
                db.execute(
                    "INSERT INTO ledger (key, environment, apply_id, action_id, status, attempts, started_at)"
                    " VALUES (?, ?, ?, ?, 'started', 1, ?)",
                    (key, environment, apply_id, action_id, time.time()),
                )
                attempts = 1
            return LedgerEntry(key, action_id, "started", attempts, None)

    # -- export and import (``modelplane state``) ------------------------------------------------

    def describe(self) -> str:
        return str(self.path)

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def load(self, tables: dict[str, list[tuple[Any, ...]]], replace: bool) -> None:
        """Write ``tables`` (as ``dump`` returns them) in one transaction, first emptying the store if ``replace``."""
        with self._tx() as db:
            if replace:
                for table in TABLES:
                    db.execute(f"DELETE FROM {table}")
            for table, rows in tables.items():
                columns = TABLES[table][0]
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                db.executemany(sql, rows)


def _refuse_truncated(path: Path) -> None:
    """A state file of 0 bytes was truncated (a new one is written as it is created): SQLite would read it as
    an empty database and the next plan would want to create everything again."""
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size == 0:
        wal = path.with_name(path.name + "-wal")
        raise ModelplaneError(
            f"the state file {path} is empty (0 bytes): it was truncated, so what was applied is not known"
            + (f" (its write-ahead log {wal.name} is still there)" if wal.exists() else ""),
            hint=f"restore it from a backup (`modelplane state import`); to really start from an empty state, "
            f"remove it: rm {path}",
        )


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
