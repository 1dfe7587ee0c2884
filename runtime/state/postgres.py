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
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from modelplane.errors import ModelplaneError
from modelplane.runtime.state.ports import TABLES, LedgerEntry
from modelplane.runtime.state.sql import SqlStore, too_new
from modelplane.runtime.state.sqlite import SCHEMA_VERSION
from modelplane.runtime.state.url import redact, scrub

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
    # 5: each node's history and what each action returned (SQLite's migration 5)
    [
        "CREATE TABLE node_versions (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " environment TEXT NOT NULL, id TEXT NOT NULL, serial BIGINT NOT NULL, apply_id TEXT NOT NULL,"
        " at DOUBLE PRECISION NOT NULL, op TEXT NOT NULL, data TEXT)",
        "CREATE INDEX node_versions_by_id ON node_versions (environment, id, serial)",
        "INSERT INTO node_versions (environment, id, serial, apply_id, at, op, data)"
        " SELECT environment, id, serial, apply_id, applied_at, 'upsert', data FROM nodes ORDER BY serial, id",
        "CREATE TABLE runs (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, environment TEXT NOT NULL,"
        " serial BIGINT NOT NULL, apply_id TEXT NOT NULL, action_id TEXT NOT NULL, type TEXT NOT NULL,"
        " target TEXT NOT NULL, status TEXT NOT NULL, output TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX runs_by_target ON runs (environment, target)",
    ],
]
assert len(MIGRATIONS) == SCHEMA_VERSION, "every SQLite migration needs its PostgreSQL twin"

MIGRATION_LOCK = 0x6D6F64656C  # any constant: the advisory lock all modelplane processes agree on
CONNECT_TIMEOUT_S = 10


class PostgresStore(SqlStore):
    """Reader, writer and ledger of the applied state in one PostgreSQL database."""

    PLACEHOLDER = "%s"
    INSERTION_ORDER = "seq"

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

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._guard("read the state"):
            return self._conn().execute(sql, args).fetchall()

    def _next_serial(self, db: psycopg.Connection[Any], environment: str) -> int:
        # the upsert row-locks the environment: a second writer waits here until this one commits
        row = db.execute(
            "INSERT INTO environments (environment, serial) VALUES (%s, 1) ON CONFLICT (environment)"
            " DO UPDATE SET serial=environments.serial+1 RETURNING serial",
            (environment,),
        ).fetchone()
        assert row is not None, "RETURNING always yields the row"
        return int(row[0])

    def _snapshot(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self._tx(snapshot=True)

    def _execute_many(self, db: psycopg.Connection[Any], sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with db.cursor() as cur:
            cur.executemany(sql, rows)

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS modelplane_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM modelplane_schema").fetchone()
            if row is None:
                db.execute("INSERT INTO modelplane_schema (version) VALUES (0)")
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise too_new(f"the state database {self.describe()}", version, SCHEMA_VERSION)
            for n in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[n]:
                    db.execute(statement)
                db.execute("UPDATE modelplane_schema SET version=%s", (n + 1,))

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

    # -- export and import ---------------------------------------------------------------------

    def schema_version(self) -> int:
        rows = self._all("SELECT version FROM modelplane_schema")
        return int(rows[0][0]) if rows else 0

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
