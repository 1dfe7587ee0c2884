"""The applied state: a SQLite file under ``.modelplane/`` (one per project, rows per environment).

Per environment it holds the applied snapshot (the documents as applied), a
serial that grows with every write, actions an apply left undone (the next
plan carries them), resource outputs (endpoint URLs...), the catalog of
registered nodes, notifications, an idempotency ledger, the apply history, a
lock row (who holds the environment, from where, since when) and an audit trail.
``runtime/state_pg.py`` holds the same in PostgreSQL; ``state_backend`` names
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.compiler.errors import ModelplaneError
from modelplane.compiler.sources import private_dir, private_opener
from modelplane.compiler.state import AppliedNode, AppliedState, PendingAction
from modelplane.runtime.messages import INTENT_PREFIX

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
]
SCHEMA_VERSION = len(MIGRATIONS)

TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # table: (columns, primary key); an empty key means the rows keep their insertion order (rowid)
    "environments": (("environment", "serial"), ("environment",)),
    "nodes": (
        ("environment", "id", "kind", "file", "idx", "data", "serial", "apply_id", "applied_at"),
        ("environment", "id"),
    ),
    "changes": (("environment", "serial", "what", "apply_id", "at"), ()),
    "pending": (("environment", "action_id", "type", "target", "reason", "apply_id"), ("environment", "action_id")),
    "outputs": (("environment", "id", "data"), ("environment", "id")),
    "catalog": (("environment", "id", "version", "data", "apply_id", "registered_at"), ()),
    "notifications": (("environment", "apply_id", "owner", "message", "data", "at"), ()),
    "ledger": (
        ("key", "environment", "apply_id", "action_id", "status", "attempts", "result", "started_at", "finished_at"),
        (),  # keyed by `key`, but listed in the order the attempts began
    ),
    "history": (
        (
            "apply_id",
            "environment",
            "plan_id",
            "workflow_id",
            "requested_by",
            "started_at",
            "finished_at",
            "outcome",
            "summary",
            "failures",
        ),
        ("apply_id",),
    ),
    "locks": (("environment", "apply_id", "holder", "location", "since"), ("environment",)),
    "audit": (("environment", "at", "who", "action", "detail"), ()),
}
"""Every table and column the store holds: what ``state export`` writes and ``state import`` reads."""
JSON_COLUMNS = frozenset(
    {
        ("nodes", "data"),
        ("outputs", "data"),
        ("catalog", "data"),
        ("notifications", "data"),
        ("ledger", "result"),
        ("history", "summary"),
        ("history", "failures"),
        ("audit", "detail"),
    }
)


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    action_id: str
    status: str
    attempts: int
    result: dict[str, Any] | None


@dataclass(frozen=True)
class HistoryEntry:
    apply_id: str
    environment: str
    plan_id: str
    workflow_id: str
    requested_by: str
    started_at: float
    finished_at: float | None
    outcome: str
    summary: dict[str, Any]
    failures: dict[str, str]


@dataclass(frozen=True)
class LockHolder:
    """Who holds an environment's lock row: an apply, a person, a machine and directory, a time."""

    environment: str
    apply_id: str
    holder: str
    location: str
    since: float


@dataclass(frozen=True)
class AuditEntry:
    environment: str
    at: float
    who: str
    action: str
    detail: dict[str, Any]


class StateStore:
    """Reader (``StateReader``) and writer of the applied state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        _refuse_truncated(path)
        try:
            os.close(
                private_opener(str(path), os.O_RDWR | os.O_CREAT)
            )  # 0600 before SQLite opens it (-wal, -shm follow)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_integrity()
            self._migrate()
        except sqlite3.DatabaseError as exc:
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

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ModelplaneError(
                f"the state file {self.path} has schema version {version}; this modelplane knows up to "
                f"{SCHEMA_VERSION}",
                hint="upgrade modelplane (pip install -U modelplane)",
            )
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

    # -- reading (the compiler's StateReader) -------------------------------------------------

    def serial(self, environment: str) -> int:
        row = self._db.execute("SELECT serial FROM environments WHERE environment=?", (environment,)).fetchone()
        return int(row[0]) if row else 0

    def applied(self, environment: str) -> AppliedState:
        nodes = {
            id_: AppliedNode(kind, file, idx, json.loads(data))
            for id_, kind, file, idx, data in self._db.execute(
                "SELECT id, kind, file, idx, data FROM nodes WHERE environment=? ORDER BY id", (environment,)
            )
        }
        pending = {
            aid: PendingAction(type_, target, reason)
            for aid, type_, target, reason in self._db.execute(
                "SELECT action_id, type, target, reason FROM pending WHERE environment=? ORDER BY action_id",
                (environment,),
            )
        }
        return AppliedState(self.serial(environment), nodes, pending)

    def changed_since(self, environment: str, serial: int) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT what FROM changes WHERE environment=? AND serial>? ORDER BY what", (environment, serial)
        )
        return [r[0] for r in rows]

    def outputs(self, environment: str) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT id, data FROM outputs WHERE environment=? ORDER BY id", (environment,))
        return {i: json.loads(d) for i, d in rows}

    def catalog(self, environment: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT id, version, apply_id, registered_at FROM catalog WHERE environment=? ORDER BY rowid",
            (environment,),
        )
        return [{"id": i, "version": v, "apply_id": a, "registered_at": t} for i, v, a, t in rows]

    def notifications(self, environment: str, apply_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT apply_id, owner, message, data, at FROM notifications WHERE environment=?"
        args: tuple[Any, ...] = (environment,)
        if apply_id:
            sql += " AND apply_id=?"
            args += (apply_id,)
        rows = self._db.execute(sql + " ORDER BY rowid", args)
        return [{"apply_id": a, "owner": o, "message": m, **json.loads(d), "at": t} for a, o, m, d, t in rows]

    def ledger(self, environment: str | None = None) -> list[LedgerEntry]:
        sql = "SELECT key, action_id, status, attempts, result FROM ledger"
        rows = self._db.execute(
            sql + (" WHERE environment=?" if environment else "") + " ORDER BY rowid",
            (environment,) if environment else (),
        )
        return [LedgerEntry(k, a, s, n, json.loads(r) if r else None) for k, a, s, n, r in rows]

    def history(self, environment: str | None = None, limit: int = 20) -> list[HistoryEntry]:
        sql = (
            "SELECT apply_id, environment, plan_id, workflow_id, requested_by, started_at, finished_at, outcome,"
            " summary, failures FROM history" + (" WHERE environment=?" if environment else "")
        )
        rows = self._db.execute(
            sql + " ORDER BY started_at DESC LIMIT ?", ((environment,) if environment else ()) + (limit,)
        )
        return [
            HistoryEntry(a, e, p, w, r, s, f, o, json.loads(m), json.loads(x)) for a, e, p, w, r, s, f, o, m, x in rows
        ]

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

    def ledger_done(
        self,
        key: str,
        result: dict[str, Any],
        *,
        environment: str,
        apply_id: str,
        outputs: dict[str, dict[str, Any]] | None = None,
        catalog: tuple[str, str | None, dict[str, Any]] | None = None,
        notification: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        """Mark the effect done, together with what it wrote, in one transaction."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE ledger SET status='done', result=?, finished_at=? WHERE key=?", (json.dumps(result), now, key)
            )
            for node_id, data in (outputs or {}).items():
                db.execute(
                    "INSERT INTO outputs (environment, id, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (environment, id) DO UPDATE SET data=excluded.data",
                    (environment, node_id, json.dumps(data, sort_keys=True)),
                )
            if catalog is not None:
                node_id, version, data = catalog
                db.execute(
                    "INSERT INTO catalog (environment, id, version, data, apply_id, registered_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (environment, node_id, version, json.dumps(data, sort_keys=True), apply_id, now),
                )
            if notification is not None:
                owner, message, data = notification
                db.execute(
                    "INSERT INTO notifications (environment, apply_id, owner, message, data, at) VALUES (?,?,?,?,?,?)",
                    (environment, apply_id, owner, message, json.dumps(data, sort_keys=True), now),
                )

    def ledger_failed(self, key: str, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE ledger SET status='failed', result=?, finished_at=? WHERE key=? AND status!='done'",
                (json.dumps({"error": error}), time.time(), key),
            )

    # -- the snapshot ------------------------------------------------------------------------

    def record(
        self,
        environment: str,
        apply_id: str,
        upserts: Sequence[tuple[str, str, str, int, dict[str, Any]]] = (),
        deletes: Sequence[str] = (),
        done: Sequence[str] = (),
        pending: Sequence[tuple[str, str, str, str]] = (),
    ) -> int:
        """Apply node writes and action outcomes atomically; returns the new serial."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT serial FROM environments WHERE environment=?", (environment,)).fetchone()
            serial = (row[0] if row else 0) + 1
            db.execute(
                "INSERT INTO environments (environment, serial) VALUES (?, ?) "
                "ON CONFLICT (environment) DO UPDATE SET serial=excluded.serial",
                (environment, serial),
            )
            for node_id, kind, file, idx, data in upserts:
                db.execute(
                    "INSERT INTO nodes (environment, id, kind, file, idx, data, serial, apply_id, applied_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment, id) DO UPDATE SET"
                    " kind=excluded.kind, file=excluded.file, idx=excluded.idx, data=excluded.data,"
                    " serial=excluded.serial, apply_id=excluded.apply_id, applied_at=excluded.applied_at",
                    (environment, node_id, kind, file, idx, json.dumps(data, sort_keys=True), serial, apply_id, now),
                )
            for node_id in deletes:
                db.execute("DELETE FROM nodes WHERE environment=? AND id=?", (environment, node_id))
                db.execute("DELETE FROM outputs WHERE environment=? AND id=?", (environment, node_id))
            for aid in done:
                db.execute("DELETE FROM pending WHERE environment=? AND action_id=?", (environment, aid))
            for aid, type_, target, reason in pending:
                db.execute(
                    "INSERT INTO pending (environment, action_id, type, target, reason, apply_id)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (environment, action_id) DO UPDATE SET"
                    " reason=excluded.reason, apply_id=excluded.apply_id",
                    (environment, aid, type_, target, reason, apply_id),
                )
            whats = [
                *(u[0] for u in upserts),
                *deletes,
                *(f"action {a}" for a in done),
                *(f"action {p[0]}" for p in pending),
            ]
            for what in whats:
                db.execute(
                    "INSERT INTO changes (environment, serial, what, apply_id, at) VALUES (?, ?, ?, ?, ?)",
                    (environment, serial, what, apply_id, now),
                )
            return serial

    # -- history -----------------------------------------------------------------------------

    def history_begin(self, apply_id: str, environment: str, plan_id: str, workflow_id: str, requested_by: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO history (apply_id, environment, plan_id, workflow_id, requested_by, started_at, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running') ON CONFLICT (apply_id) DO NOTHING",
                (apply_id, environment, plan_id, workflow_id, requested_by, time.time()),
            )

    def history_end(
        self, apply_id: str, outcome: str, summary: dict[str, Any], failures: dict[str, str] | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE history SET outcome=?, summary=?, failures=?, finished_at=? WHERE apply_id=?",
                (outcome, json.dumps(summary, sort_keys=True), json.dumps(failures or {}), time.time(), apply_id),
            )
            # the apply ended (however): what it wrote ahead and never reached is not left over (a refused
            # or aborted apply has recorded its own reasons for what it did not run)
            db.execute("DELETE FROM pending WHERE apply_id=? AND reason LIKE ?", (apply_id, INTENT_PREFIX + " %"))

    # -- the lock row --------------------------------------------------------------------------

    def lock_acquire(self, environment: str, apply_id: str, holder: str, location: str) -> LockHolder:
        """Take the environment's lock for ``apply_id`` if it is free; returns whoever holds it now."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO locks (environment, apply_id, holder, location, since) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (environment) DO NOTHING",
                (environment, apply_id, holder, location, time.time()),
            )
            row = db.execute(
                "SELECT apply_id, holder, location, since FROM locks WHERE environment=?", (environment,)
            ).fetchone()
            return LockHolder(environment, *row)

    def lock_holder(self, environment: str) -> LockHolder | None:
        row = self._db.execute(
            "SELECT apply_id, holder, location, since FROM locks WHERE environment=?", (environment,)
        ).fetchone()
        return LockHolder(environment, *row) if row else None

    def lock_release(self, environment: str, apply_id: str) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM locks WHERE environment=? AND apply_id=?", (environment, apply_id))
            return cur.rowcount > 0

    def force_unlock(self, environment: str, who: str, reason: str) -> LockHolder | None:
        """Clear the lock whoever holds it, with an audit entry, in one transaction; returns what was cleared."""
        with self._tx() as db:
            row = db.execute(
                "SELECT apply_id, holder, location, since FROM locks WHERE environment=?", (environment,)
            ).fetchone()
            cleared = LockHolder(environment, *row) if row else None
            db.execute("DELETE FROM locks WHERE environment=?", (environment,))
            db.execute(
                "INSERT INTO audit (environment, at, who, action, detail) VALUES (?, ?, ?, 'unlock', ?)",
                (environment, time.time(), who, json.dumps(_unlock_detail(cleared, reason), sort_keys=True)),
            )
            return cleared

    def audit_add(self, environment: str, who: str, action: str, detail: dict[str, Any]) -> None:
        """One entry of the audit trail (an approval, an unlock), in its own transaction."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO audit (environment, at, who, action, detail) VALUES (?, ?, ?, ?, ?)",
                (environment, time.time(), who, action, json.dumps(detail, sort_keys=True)),
            )

    def audit(self, environment: str | None = None) -> list[AuditEntry]:
        sql = "SELECT environment, at, who, action, detail FROM audit"
        rows = self._db.execute(
            sql + (" WHERE environment=?" if environment else "") + " ORDER BY rowid",
            (environment,) if environment else (),
        )
        return [AuditEntry(e, t, w, a, json.loads(d)) for e, t, w, a, d in rows]

    # -- export and import (``modelplane state``) ------------------------------------------------

    def describe(self) -> str:
        return str(self.path)

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, in a deterministic order (primary key, else insertion order)."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self._tx() as db:  # one snapshot of all tables
            for table, (columns, key) in TABLES.items():
                order = ", ".join(key) if key else "rowid"
                out[table] = [
                    tuple(r) for r in db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
                ]
        return out

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

    def is_empty(self) -> bool:
        return all(self._db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is None for t in TABLES)


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


def _unlock_detail(cleared: LockHolder | None, reason: str) -> dict[str, Any]:
    held = (
        {"apply_id": cleared.apply_id, "holder": cleared.holder, "location": cleared.location, "since": cleared.since}
        if cleared
        else None
    )
    return {"cleared": held, "reason": reason}


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
