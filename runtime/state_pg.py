"""The applied state in PostgreSQL: the same tables, transactions and answers as the SQLite store.

For a team: every checkout, CI job and worker that points at one database sees
one truth about each environment and one lock row. Each write is one
transaction, as in SQLite; where SQLite serializes writers with ``BEGIN
IMMEDIATE``, this takes row locks (``ON CONFLICT ... RETURNING``, ``FOR
UPDATE``) so two writers on two machines cannot take the same serial or
lose an attempt count in the ledger. The schema version lives in ``modelplane_schema`` (SQLite's
``PRAGMA user_version``) and migrations run under an advisory lock, so two
processes opening a new database at once do not both create it. Tables whose
rows SQLite lists by ``rowid`` carry an identity column ``seq`` for the same
order. Use one database per project (environment names would collide).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from modelplane.compiler.errors import ModelplaneError
from modelplane.compiler.state import AppliedNode, AppliedState, PendingAction
from modelplane.runtime.messages import INTENT_PREFIX
from modelplane.runtime.state_store import (
    SCHEMA_VERSION,
    TABLES,
    AuditEntry,
    HistoryEntry,
    LedgerEntry,
    LockHolder,
    _unlock_detail,
)
from modelplane.runtime.state_url import redact, scrub

MIGRATIONS: list[list[str]] = [
    # 1: the first schema (SQLite's migration 1)
    [
        "CREATE TABLE environments (environment TEXT PRIMARY KEY, serial BIGINT NOT NULL DEFAULT 0)",
        "CREATE TABLE nodes (environment TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, file TEXT NOT NULL,"
        " idx BIGINT NOT NULL, data TEXT NOT NULL, serial BIGINT NOT NULL, apply_id TEXT NOT NULL,"
        " applied_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (environment, id))",
        "CREATE TABLE changes (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, environment TEXT NOT NULL,"
        " serial BIGINT NOT NULL, what TEXT NOT NULL, apply_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX changes_by_serial ON changes (environment, serial)",
        "CREATE TABLE pending (environment TEXT NOT NULL, action_id TEXT NOT NULL, type TEXT NOT NULL,"
        " target TEXT NOT NULL, reason TEXT NOT NULL, apply_id TEXT NOT NULL, PRIMARY KEY (environment, action_id))",
        "CREATE TABLE outputs (environment TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,"
        " PRIMARY KEY (environment, id))",
        "CREATE TABLE catalog (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, environment TEXT NOT NULL,"
        " id TEXT NOT NULL, version TEXT, data TEXT NOT NULL, apply_id TEXT NOT NULL,"
        " registered_at DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE notifications (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " environment TEXT NOT NULL, apply_id TEXT NOT NULL, owner TEXT NOT NULL, message TEXT NOT NULL,"
        " data TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE ledger (seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, key TEXT PRIMARY KEY,"
        " environment TEXT NOT NULL, apply_id TEXT NOT NULL, action_id TEXT NOT NULL, status TEXT NOT NULL,"
        " attempts BIGINT NOT NULL, result TEXT, started_at DOUBLE PRECISION NOT NULL,"
        " finished_at DOUBLE PRECISION)",
        "CREATE TABLE history (apply_id TEXT PRIMARY KEY, environment TEXT NOT NULL, plan_id TEXT NOT NULL,"
        " workflow_id TEXT NOT NULL, requested_by TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
        " finished_at DOUBLE PRECISION, outcome TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}')",
    ],
    # 2: why actions failed, kept with the apply
    ["ALTER TABLE history ADD COLUMN failures TEXT NOT NULL DEFAULT '{}'"],
    # 3: the per-environment lock row and the audit trail
    [
        "CREATE TABLE locks (environment TEXT PRIMARY KEY, apply_id TEXT NOT NULL, holder TEXT NOT NULL,"
        " location TEXT NOT NULL, since DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE audit (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, environment TEXT NOT NULL,"
        " at DOUBLE PRECISION NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)",
    ],
    # 4: the store's own identity and the counter that numbers its applies
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO meta VALUES ('store_id', substr(md5(random()::text || clock_timestamp()::text), 1, 16))",
        "INSERT INTO meta VALUES ('applies', '0')",
    ],
]
assert len(MIGRATIONS) == SCHEMA_VERSION, "every SQLite migration needs its PostgreSQL twin"

MIGRATION_LOCK = 0x6D6F64656C  # any constant: the advisory lock all modelplane processes agree on
CONNECT_TIMEOUT_S = 10


class PostgresStore:
    """Reader, writer and ledger of the applied state in one PostgreSQL database."""

    def __init__(self, url: str, password: str | None = None) -> None:
        self.url = url
        self._password = password
        self._lock = threading.RLock()  # one connection; a transaction must not interleave with another thread's
        self._db = self._connect()
        with self._guard("migrate"):
            self._migrate()

    def describe(self) -> str:
        return redact(self.url)

    def same_file(self) -> bool:
        return True  # a database, not a file: its identity is store_id

    def store_id(self) -> str:
        return str(self._all("SELECT value FROM meta WHERE key='store_id'")[0][0])

    def next_apply_id(self) -> str:
        """A new apply's id: this store's counter and its own id, never repeated (a plan id can be)."""
        with self._tx() as db:
            row = db.execute(
                "UPDATE meta SET value = (value::bigint + 1)::text WHERE key='applies' RETURNING value"
            ).fetchone()
        assert row is not None, "migration 4 inserts the counter"
        return f"{row[0]}.{self.store_id()}"

    def _secrets(self) -> tuple[str, ...]:
        return (self._password,) if self._password else ()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.url,
                password=self._password,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="modelplane",
            )
        except psycopg.Error as exc:
            raise ModelplaneError(
                f"cannot connect to the state database {self.describe()}: {scrub(str(exc).strip(), self._secrets())}",
                hint="check the URL (state.url or MODELPLANE_STATE_URL), that the server is up, and the password "
                "(MODELPLANE_STATE_PASSWORD_FILE, state.password_file, PGPASSWORD or ~/.pgpass)",
            ) from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Driver errors as user-facing errors, with the password scrubbed out."""
        try:
            yield
        except psycopg.OperationalError as exc:
            raise ModelplaneError(
                f"the state database {self.describe()} failed while trying to {doing}: "
                f"{scrub(str(exc).strip(), self._secrets())}",
                hint="check that the server is up; the next command reconnects",
            ) from None

    def _conn(self) -> psycopg.Connection[Any]:
        if self._db.closed or self._db.broken:  # a long-lived worker outlives a server restart
            self._db = self._connect()
        return self._db

    @contextmanager
    def _tx(self, snapshot: bool = False) -> Iterator[psycopg.Connection[Any]]:
        with self._lock, self._guard("write the state" if not snapshot else "read the state"):
            db = self._conn()
            with db.transaction():
                if snapshot:
                    db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield db

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._guard("read the state"):
            return self._conn().execute(sql, args).fetchall()

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS modelplane_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM modelplane_schema").fetchone()
            if row is None:
                db.execute("INSERT INTO modelplane_schema (version) VALUES (0)")
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise ModelplaneError(
                    f"the state database {self.describe()} has schema version {version}; this modelplane knows up "
                    f"to {SCHEMA_VERSION}",
                    hint="upgrade modelplane (pip install -U modelplane)",
                )
            for n in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[n]:
                    db.execute(statement)
                db.execute("UPDATE modelplane_schema SET version=%s", (n + 1,))

    # -- reading ------------------------------------------------------------------------------

    def serial(self, environment: str) -> int:
        rows = self._all("SELECT serial FROM environments WHERE environment=%s", (environment,))
        return int(rows[0][0]) if rows else 0

    def applied(self, environment: str) -> AppliedState:
        with self._tx(snapshot=True) as db:
            row = db.execute("SELECT serial FROM environments WHERE environment=%s", (environment,)).fetchone()
            nodes = {
                id_: AppliedNode(kind, file, int(idx), json.loads(data))
                for id_, kind, file, idx, data in db.execute(
                    "SELECT id, kind, file, idx, data FROM nodes WHERE environment=%s ORDER BY id", (environment,)
                )
            }
            pending = {
                aid: PendingAction(type_, target, reason)
                for aid, type_, target, reason in db.execute(
                    "SELECT action_id, type, target, reason FROM pending WHERE environment=%s ORDER BY action_id",
                    (environment,),
                )
            }
        return AppliedState(int(row[0]) if row else 0, nodes, pending)

    def changed_since(self, environment: str, serial: int) -> list[str]:
        rows = self._all(
            "SELECT DISTINCT what FROM changes WHERE environment=%s AND serial>%s ORDER BY what", (environment, serial)
        )
        return [r[0] for r in rows]

    def outputs(self, environment: str) -> dict[str, dict[str, Any]]:
        rows = self._all("SELECT id, data FROM outputs WHERE environment=%s ORDER BY id", (environment,))
        return {i: json.loads(d) for i, d in rows}

    def catalog(self, environment: str) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT id, version, apply_id, registered_at FROM catalog WHERE environment=%s ORDER BY seq", (environment,)
        )
        return [{"id": i, "version": v, "apply_id": a, "registered_at": t} for i, v, a, t in rows]

    def notifications(self, environment: str, apply_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT apply_id, owner, message, data, at FROM notifications WHERE environment=%s"
        args: tuple[Any, ...] = (environment,)
        if apply_id:
            sql += " AND apply_id=%s"
            args += (apply_id,)
        rows = self._all(sql + " ORDER BY seq", args)
        return [{"apply_id": a, "owner": o, "message": m, **json.loads(d), "at": t} for a, o, m, d, t in rows]

    def ledger(self, environment: str | None = None) -> list[LedgerEntry]:
        sql = "SELECT key, action_id, status, attempts, result FROM ledger"
        rows = self._all(
            sql + (" WHERE environment=%s" if environment else "") + " ORDER BY seq",
            (environment,) if environment else (),
        )
        return [LedgerEntry(k, a, s, int(n), json.loads(r) if r else None) for k, a, s, n, r in rows]

    def history(self, environment: str | None = None, limit: int = 20) -> list[HistoryEntry]:
        sql = (
            "SELECT apply_id, environment, plan_id, workflow_id, requested_by, started_at, finished_at, outcome,"
            " summary, failures FROM history" + (" WHERE environment=%s" if environment else "")
        )
        rows = self._all(sql + " ORDER BY started_at DESC LIMIT %s", ((environment,) if environment else ()) + (limit,))
        return [
            HistoryEntry(a, e, p, w, r, s, f, o, json.loads(m), json.loads(x)) for a, e, p, w, r, s, f, o, m, x in rows
        ]

    # -- the idempotency ledger ---------------------------------------------------------------

    def ledger_begin(self, key: str, environment: str, apply_id: str, action_id: str) -> LedgerEntry:
        """Count an attempt; a ``done`` entry means the effect already happened (return its result)."""
        with self._tx() as db:
            inserted = db.execute(
                "INSERT INTO ledger (key, environment, apply_id, action_id, status, attempts, started_at)"
                " VALUES (%s, %s, %s, %s, 'started', 1, %s) ON CONFLICT (key) DO NOTHING RETURNING attempts",
                (key, environment, apply_id, action_id, time.time()),
            ).fetchone()
            if inserted:
                return LedgerEntry(key, action_id, "started", 1, None)
            # the row exists: lock it so a second worker's attempt waits for this one's decision
            status, attempts, result = db.execute(
                "SELECT status, attempts, result FROM ledger WHERE key=%s FOR UPDATE", (key,)
            ).fetchone() or ("", 0, None)
            if status == "done":
                return LedgerEntry(key, action_id, "done", int(attempts), json.loads(result) if result else None)
            db.execute("UPDATE ledger SET attempts=attempts+1, status='started' WHERE key=%s", (key,))
            return LedgerEntry(key, action_id, "started", int(attempts) + 1, None)

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
                "UPDATE ledger SET status='done', result=%s, finished_at=%s WHERE key=%s",
                (json.dumps(result), now, key),
            )
            for node_id, data in (outputs or {}).items():
                db.execute(
                    "INSERT INTO outputs (environment, id, data) VALUES (%s, %s, %s) "
                    "ON CONFLICT (environment, id) DO UPDATE SET data=excluded.data",
                    (environment, node_id, json.dumps(data, sort_keys=True)),
                )
            if catalog is not None:
                node_id, version, data = catalog
                db.execute(
                    "INSERT INTO catalog (environment, id, version, data, apply_id, registered_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (environment, node_id, version, json.dumps(data, sort_keys=True), apply_id, now),
                )
            if notification is not None:
                owner, message, data = notification
                db.execute(
                    "INSERT INTO notifications (environment, apply_id, owner, message, data, at)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (environment, apply_id, owner, message, json.dumps(data, sort_keys=True), now),
                )

    def ledger_failed(self, key: str, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE ledger SET status='failed', result=%s, finished_at=%s WHERE key=%s AND status!='done'",
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
        # JSON first: a value that cannot be written fails before the transaction begins
        rows = [(n, k, f, i, json.dumps(d, sort_keys=True)) for n, k, f, i, d in upserts]
        with self._tx() as db:
            # the upsert row-locks the environment: a second writer waits here until this one commits
            serial = int(
                db.execute(
                    "INSERT INTO environments (environment, serial) VALUES (%s, 1) ON CONFLICT (environment)"
                    " DO UPDATE SET serial=environments.serial+1 RETURNING serial",
                    (environment,),
                ).fetchone()[0]  # type: ignore[index]  # RETURNING always yields the row
            )
            for node_id, kind, file, idx, data in rows:
                db.execute(
                    "INSERT INTO nodes (environment, id, kind, file, idx, data, serial, apply_id, applied_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (environment, id) DO UPDATE SET"
                    " kind=excluded.kind, file=excluded.file, idx=excluded.idx, data=excluded.data,"
                    " serial=excluded.serial, apply_id=excluded.apply_id, applied_at=excluded.applied_at",
                    (environment, node_id, kind, file, idx, data, serial, apply_id, now),
                )
            for node_id in deletes:
                db.execute("DELETE FROM nodes WHERE environment=%s AND id=%s", (environment, node_id))
                db.execute("DELETE FROM outputs WHERE environment=%s AND id=%s", (environment, node_id))
            for aid in done:
                db.execute("DELETE FROM pending WHERE environment=%s AND action_id=%s", (environment, aid))
            for aid, type_, target, reason in pending:
                db.execute(
                    "INSERT INTO pending (environment, action_id, type, target, reason, apply_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (environment, action_id) DO UPDATE SET"
                    " reason=excluded.reason, apply_id=excluded.apply_id",
                    (environment, aid, type_, target, reason, apply_id),
                )
            whats = [
                *(u[0] for u in upserts),
                *deletes,
                *(f"action {a}" for a in done),
                *(f"action {p[0]}" for p in pending),
            ]
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO changes (environment, serial, what, apply_id, at) VALUES (%s, %s, %s, %s, %s)",
                    [(environment, serial, what, apply_id, now) for what in whats],
                )
            return serial

    # -- history -----------------------------------------------------------------------------

    def history_begin(self, apply_id: str, environment: str, plan_id: str, workflow_id: str, requested_by: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO history (apply_id, environment, plan_id, workflow_id, requested_by, started_at, outcome)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'running') ON CONFLICT (apply_id) DO NOTHING",
                (apply_id, environment, plan_id, workflow_id, requested_by, time.time()),
            )

    def history_end(
        self, apply_id: str, outcome: str, summary: dict[str, Any], failures: dict[str, str] | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE history SET outcome=%s, summary=%s, failures=%s, finished_at=%s WHERE apply_id=%s",
                (outcome, json.dumps(summary, sort_keys=True), json.dumps(failures or {}), time.time(), apply_id),
            )
            # the apply ended (however): what it wrote ahead and never reached is not left over (a refused
            # or aborted apply has recorded its own reasons for what it did not run)
            db.execute("DELETE FROM pending WHERE apply_id=%s AND reason LIKE %s", (apply_id, INTENT_PREFIX + " %"))

    # -- the lock row --------------------------------------------------------------------------

    def lock_acquire(self, environment: str, apply_id: str, holder: str, location: str) -> LockHolder:
        """Take the environment's lock for ``apply_id`` if it is free; returns whoever holds it now."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO locks (environment, apply_id, holder, location, since) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (environment) DO NOTHING",
                (environment, apply_id, holder, location, time.time()),
            )
            row = db.execute(
                "SELECT apply_id, holder, location, since FROM locks WHERE environment=%s", (environment,)
            ).fetchone()
            return LockHolder(environment, *row)  # type: ignore[misc]  # just inserted or already there

    def lock_holder(self, environment: str) -> LockHolder | None:
        rows = self._all("SELECT apply_id, holder, location, since FROM locks WHERE environment=%s", (environment,))
        return LockHolder(environment, *rows[0]) if rows else None

    def lock_release(self, environment: str, apply_id: str) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM locks WHERE environment=%s AND apply_id=%s", (environment, apply_id))
            return cur.rowcount > 0

    def force_unlock(self, environment: str, who: str, reason: str) -> LockHolder | None:
        """Clear the lock whoever holds it, with an audit entry, in one transaction; returns what was cleared."""
        with self._tx() as db:
            row = db.execute(
                "DELETE FROM locks WHERE environment=%s RETURNING apply_id, holder, location, since", (environment,)
            ).fetchone()
            cleared = LockHolder(environment, *row) if row else None
            db.execute(
                "INSERT INTO audit (environment, at, who, action, detail) VALUES (%s, %s, %s, 'unlock', %s)",
                (environment, time.time(), who, json.dumps(_unlock_detail(cleared, reason), sort_keys=True)),
            )
            return cleared

    def audit_add(self, environment: str, who: str, action: str, detail: dict[str, Any]) -> None:
        """One entry of the audit trail (an approval, an unlock), in its own transaction."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO audit (environment, at, who, action, detail) VALUES (%s, %s, %s, %s, %s)",
                (environment, time.time(), who, action, json.dumps(detail, sort_keys=True)),
            )

    def audit(self, environment: str | None = None) -> list[AuditEntry]:
        sql = "SELECT environment, at, who, action, detail FROM audit"
        rows = self._all(
            sql + (" WHERE environment=%s" if environment else "") + " ORDER BY seq",
            (environment,) if environment else (),
        )
        return [AuditEntry(e, t, w, a, json.loads(d)) for e, t, w, a, d in rows]

    # -- export and import ---------------------------------------------------------------------

    def schema_version(self) -> int:
        rows = self._all("SELECT version FROM modelplane_schema")
        return int(rows[0][0]) if rows else 0

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, in the SQLite store's order (primary key, else insertion order)."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self._tx(snapshot=True) as db:
            for table, (columns, key) in TABLES.items():
                order = ", ".join(key) if key else "seq"
                sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
                out[table] = [tuple(r) for r in db.execute(sql)]
        return out

    def load(self, tables: dict[str, list[tuple[Any, ...]]], replace: bool) -> None:
        """Write ``tables`` (as ``dump`` returns them) in one transaction, first emptying the store if ``replace``."""
        with self._tx() as db:
            if replace:
                db.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
            with db.cursor() as cur:
                for table, rows in tables.items():
                    columns = TABLES[table][0]
                    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
                    cur.executemany(sql, rows)

    def is_empty(self) -> bool:
        return not any(self._all(f"SELECT 1 FROM {t} LIMIT 1") for t in TABLES)
