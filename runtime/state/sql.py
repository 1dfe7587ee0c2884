"""``SqlStore``: the queries and row-to-record code the SQLite and PostgreSQL backends share."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Unpack

from modelplane.compiler.change.state import AppliedNode, AppliedState, PendingAction, TrainedArtifact
from modelplane.errors import ModelplaneError
from modelplane.runtime.state.ports import (
    TABLES,
    AuditEntry,
    EffectWrites,
    HistoryEntry,
    LedgerEntry,
    LockHolder,
    NodeRow,
    NodeVersion,
    PendingRow,
    RunRecord,
    RunRow,
    SnapshotChange,
    unlock_detail,
)
from modelplane.runtime.temporal.messages import INTENT_PREFIX


class SqlStore:
    """The queries and row-to-record code the two backends share, written once.

    The SQL is written with SQLite's ``?`` placeholders; ``PLACEHOLDER`` is what the
    driver takes instead (``%s`` for psycopg). ``INSERTION_ORDER`` is the column that
    lists rows in the order they were written (SQLite's ``rowid``, PostgreSQL's
    identity column ``seq``). A backend provides ``_tx`` (one write transaction) and
    ``_rows`` (one read) and keeps what differs: opening and migrating,
    ``ledger_begin`` and ``load``.
    """

    PLACEHOLDER = "?"
    INSERTION_ORDER = "rowid"

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _snapshot(self) -> AbstractContextManager[Any]:
        """A transaction that reads one consistent snapshot (a backend may make it read-only)."""
        return self._tx()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _next_serial(self, db: Any, environment: str) -> int:
        """Count one more write to ``environment`` inside the transaction ``db``; returns the new serial."""
        raise NotImplementedError

    def _execute_many(self, db: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        return sql if self.PLACEHOLDER == "?" else sql.replace("?", self.PLACEHOLDER)

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._rows(self._q(sql), args)

    def _write(self, sql: str, args: Sequence[Any]) -> None:
        with self._tx() as db:
            db.execute(self._q(sql), args)

    # -- reading --------------------------------------------------------------------------------

    def applied(self, environment: str) -> AppliedState:
        q = self._q
        with self._snapshot() as db:
            row = db.execute(q("SELECT serial FROM environments WHERE environment=?"), (environment,)).fetchone()
            nodes = {
                id_: AppliedNode(kind, file, int(idx), json.loads(data))
                for id_, kind, file, idx, data in db.execute(
                    q("SELECT id, kind, file, idx, data FROM nodes WHERE environment=? ORDER BY id"), (environment,)
                )
            }
            pending = {
                aid: PendingAction(type_, target, reason)
                for aid, type_, target, reason in db.execute(
                    q("SELECT action_id, type, target, reason FROM pending WHERE environment=? ORDER BY action_id"),
                    (environment,),
                )
            }
            # the catalog rows of retrains (their data names the trained artifact), the last one per model wins
            trained = db.execute(
                q(
                    "SELECT id, data, apply_id FROM catalog WHERE environment=? AND data LIKE ?"
                    f" ORDER BY {self.INSERTION_ORDER}"
                ),
                (environment, '%"trained": {%'),
            ).fetchall()
            # what each endpoint's last successful rollout serves (its output names a trained artifact, or not)
            served = db.execute(
                q(
                    "SELECT target, output FROM runs WHERE environment=? AND type='rollout' AND status='succeeded'"
                    f" ORDER BY serial, {self.INSERTION_ORDER}"
                ),
                (environment,),
            ).fetchall()
        last = {target: json.loads(output).get("artifact") for target, output in served}
        return AppliedState(
            int(row[0]) if row else 0,
            nodes,
            pending,
            _trained_artifacts(trained),
            {target: str(digest) for target, digest in last.items() if digest},
        )

    def serial(self, environment: str) -> int:
        rows = self._all("SELECT serial FROM environments WHERE environment=?", (environment,))
        return int(rows[0][0]) if rows else 0

    def changed_since(self, environment: str, serial: int) -> list[str]:
        rows = self._all(
            "SELECT DISTINCT what FROM changes WHERE environment=? AND serial>? ORDER BY what", (environment, serial)
        )
        return [r[0] for r in rows]

    def outputs(self, environment: str) -> dict[str, dict[str, Any]]:
        rows = self._all("SELECT id, data FROM outputs WHERE environment=? ORDER BY id", (environment,))
        return {i: json.loads(d) for i, d in rows}

    def catalog(self, environment: str) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT id, version, apply_id, registered_at, data FROM catalog WHERE environment=?"
            f" ORDER BY {self.INSERTION_ORDER}",
            (environment,),
        )
        out = []
        for i, v, a, t, d in rows:
            entry: dict[str, Any] = {"id": i, "version": v, "apply_id": a, "registered_at": t}
            if d and '"trained": {' in d:  # a retrain's registration: its digest and where the weights are
                entry["trained"] = json.loads(d).get("trained")
            out.append(entry)
        return out

    def notifications(self, environment: str, apply_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT apply_id, owner, message, data, at FROM notifications WHERE environment=?"
        args: tuple[Any, ...] = (environment,)
        if apply_id:
            sql += " AND apply_id=?"
            args += (apply_id,)
        rows = self._all(sql + f" ORDER BY {self.INSERTION_ORDER}", args)
        return [{"apply_id": a, "owner": o, "message": m, **json.loads(d), "at": t} for a, o, m, d, t in rows]

    def ledger(self, environment: str | None = None) -> list[LedgerEntry]:
        sql = "SELECT key, action_id, status, attempts, result FROM ledger"
        rows = self._all(
            sql + (" WHERE environment=?" if environment else "") + f" ORDER BY {self.INSERTION_ORDER}",
            (environment,) if environment else (),
        )
        return [LedgerEntry(k, a, s, int(n), json.loads(r) if r else None) for k, a, s, n, r in rows]

    def history(self, environment: str | None = None, limit: int = 20) -> list[HistoryEntry]:
        sql = (
            "SELECT apply_id, environment, plan_id, workflow_id, requested_by, started_at, finished_at, outcome,"
            " summary, failures FROM history" + (" WHERE environment=?" if environment else "")
        )
        rows = self._all(sql + " ORDER BY started_at DESC LIMIT ?", ((environment,) if environment else ()) + (limit,))
        return [
            HistoryEntry(a, e, p, w, r, s, f, o, json.loads(m), json.loads(x)) for a, e, p, w, r, s, f, o, m, x in rows
        ]

    def history_of(self, apply_id: str) -> HistoryEntry | None:
        """One apply's history row (None: never begun in this store)."""
        sql = (
            "SELECT apply_id, environment, plan_id, workflow_id, requested_by, started_at, finished_at, outcome,"
            " summary, failures FROM history WHERE apply_id=?"
        )
        rows = self._all(sql, (apply_id,))
        return next(
            (
                HistoryEntry(a, e, p, w, r, s, f, o, json.loads(m), json.loads(x))
                for a, e, p, w, r, s, f, o, m, x in rows
            ),
            None,
        )

    def lock_holder(self, environment: str) -> LockHolder | None:
        rows = self._all("SELECT apply_id, holder, location, since FROM locks WHERE environment=?", (environment,))
        return LockHolder(environment, *rows[0]) if rows else None

    def audit(self, environment: str | None = None) -> list[AuditEntry]:
        sql = "SELECT environment, at, who, action, detail FROM audit"
        rows = self._all(
            sql + (" WHERE environment=?" if environment else "") + f" ORDER BY {self.INSERTION_ORDER}",
            (environment,) if environment else (),
        )
        return [AuditEntry(e, t, w, a, json.loads(d)) for e, t, w, a, d in rows]

    def node_versions(self, environment: str, node_id: str | None = None) -> list[NodeVersion]:
        """Every version of a node (or of every node) as applies recorded them, oldest first."""
        sql = "SELECT id, serial, apply_id, at, op, data FROM node_versions WHERE environment=?"
        args: tuple[Any, ...] = (environment,)
        if node_id is not None:
            sql += " AND id=?"
            args += (node_id,)
        rows = self._all(sql + f" ORDER BY serial, {self.INSERTION_ORDER}", args)
        return [NodeVersion(i, int(s), a, t, o, json.loads(d) if d else None) for i, s, a, t, o, d in rows]

    def runs(self, environment: str, target: str | None = None) -> list[RunRecord]:
        """What each finished action returned (of one target, or all), oldest first."""
        sql = "SELECT serial, apply_id, action_id, type, target, status, output, at FROM runs WHERE environment=?"
        args: tuple[Any, ...] = (environment,)
        if target is not None:
            sql += " AND target=?"
            args += (target,)
        rows = self._all(sql + f" ORDER BY serial, {self.INSERTION_ORDER}", args)
        return [RunRecord(int(s), a, i, ty, tg, st, json.loads(o), t) for s, a, i, ty, tg, st, o, t in rows]

    def is_empty(self) -> bool:
        return not any(self._all(f"SELECT 1 FROM {t} LIMIT 1") for t in TABLES)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, in one snapshot and a deterministic order (primary key, else
        insertion order): the same rows dump the same from either backend."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self._snapshot() as db:
            for table, (columns, key) in TABLES.items():
                order = ", ".join(key) if key else self.INSERTION_ORDER
                out[table] = [
                    tuple(r) for r in db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
                ]
        return out

    # -- the idempotency ledger -----------------------------------------------------------------

    def ledger_done(
        self, key: str, result: dict[str, Any], *, environment: str, apply_id: str, writes: EffectWrites | None = None
    ) -> None:
        """Mark the effect done, together with what it wrote, in one transaction."""
        outputs, catalog, notification = (w := writes or EffectWrites()).outputs, w.catalog, w.notification
        now = time.time()
        q = self._q
        with self._tx() as db:
            marked = db.execute(
                q("UPDATE ledger SET status='done', result=?, finished_at=? WHERE key=? AND status!='done'"),
                (json.dumps(result), now, key),
            )
            if marked.rowcount == 0:
                # already done: a retried write whose first try committed though its caller saw an error
                # (the connection dropped after the commit) writes its catalog/notification rows once
                return
            for node_id, data in outputs.items():
                db.execute(
                    q(
                        "INSERT INTO outputs (environment, id, data) VALUES (?, ?, ?) "
                        "ON CONFLICT (environment, id) DO UPDATE SET data=excluded.data"
                    ),
                    (environment, node_id, json.dumps(data, sort_keys=True)),
                )
            if catalog is not None:
                node_id, version, data = catalog
                db.execute(
                    q(
                        "INSERT INTO catalog (environment, id, version, data, apply_id, registered_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)"
                    ),
                    (environment, node_id, version, json.dumps(data, sort_keys=True), apply_id, now),
                )
            if notification is not None:
                owner, message, data = notification
                db.execute(
                    q(
                        "INSERT INTO notifications (environment, apply_id, owner, message, data, at) VALUES (?,?,?,?,?,?)"
                    ),
                    (environment, apply_id, owner, message, json.dumps(data, sort_keys=True), now),
                )

    def ledger_failed(self, key: str, error: str) -> None:
        self._write(
            "UPDATE ledger SET status='failed', result=?, finished_at=? WHERE key=? AND status!='done'",
            (json.dumps({"error": error}), time.time(), key),
        )

    # -- the snapshot ---------------------------------------------------------------------------

    def record(self, environment: str, apply_id: str, **change: Unpack[SnapshotChange]) -> int:
        """Apply node writes and action outcomes atomically; returns the new serial."""
        upserts, deletes = change.get("upserts", ()), change.get("deletes", ())
        done, pending = change.get("done", ()), change.get("pending", ())
        runs: Sequence[RunRow] = change.get("runs", ())
        moves = change.get("moves", ())
        now = time.time()
        q = self._q
        # JSON first: a value that cannot be written fails before the transaction begins
        rows = [(n, k, f, i, json.dumps(d, sort_keys=True)) for n, k, f, i, d in upserts]
        run_rows = [(a, ty, tg, st, json.dumps(o, sort_keys=True, default=str)) for a, ty, tg, st, o in runs]
        whats = [*(old for old, _ in moves), *changed_whats(upserts, deletes, done, pending)]
        with self._tx() as db:
            serial = self._next_serial(db, environment)
            for old_id, new_id in moves:
                self._move(db, environment, old_id, new_id)
            for node_id, kind, file, idx, data in rows:
                db.execute(
                    q(
                        "INSERT INTO nodes (environment, id, kind, file, idx, data, serial, apply_id, applied_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment, id) DO UPDATE SET"
                        " kind=excluded.kind, file=excluded.file, idx=excluded.idx, data=excluded.data,"
                        " serial=excluded.serial, apply_id=excluded.apply_id, applied_at=excluded.applied_at"
                    ),
                    (environment, node_id, kind, file, idx, data, serial, apply_id, now),
                )
            for node_id in deletes:
                db.execute(q("DELETE FROM nodes WHERE environment=? AND id=?"), (environment, node_id))
                db.execute(q("DELETE FROM outputs WHERE environment=? AND id=?"), (environment, node_id))
            for aid in done:
                db.execute(q("DELETE FROM pending WHERE environment=? AND action_id=?"), (environment, aid))
            for aid, type_, target, reason in pending:
                db.execute(
                    q(
                        "INSERT INTO pending (environment, action_id, type, target, reason, apply_id)"
                        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (environment, action_id) DO UPDATE SET"
                        " reason=excluded.reason, apply_id=excluded.apply_id"
                    ),
                    (environment, aid, type_, target, reason, apply_id),
                )
            self._execute_many(
                db,
                q("INSERT INTO changes (environment, serial, what, apply_id, at) VALUES (?, ?, ?, ?, ?)"),
                [(environment, serial, what, apply_id, now) for what in whats],
            )
            # each node's history: the version this apply wrote (or its deletion), and what its actions returned
            self._execute_many(
                db,
                q("INSERT INTO node_versions (environment, id, serial, apply_id, at, op, data) VALUES (?,?,?,?,?,?,?)"),
                [(environment, o, serial, apply_id, now, "moved", None) for o, _ in moves]
                + [(environment, n, serial, apply_id, now, "upsert", d) for n, _, _, _, d in rows]
                + [(environment, n, serial, apply_id, now, "delete", None) for n in deletes],
            )
            self._execute_many(
                db,
                q(
                    "INSERT INTO runs (environment, serial, apply_id, action_id, type, target, status, output, at)"
                    " VALUES (?,?,?,?,?,?,?,?,?)"
                ),
                [(environment, serial, apply_id, *r, now) for r in run_rows],
            )
            return serial

    def _move(self, db: Any, environment: str, old_id: str, new_id: str) -> None:
        """Rename a node's row and outputs (a ``moved`` record); where the new id has a row already (a
        retried record that committed), the old one is dropped. Inside ``record``'s transaction."""
        q = self._q
        for table in ("nodes", "outputs"):
            db.execute(
                q(
                    f"DELETE FROM {table} WHERE environment=? AND id=?"
                    f" AND EXISTS (SELECT 1 FROM {table} WHERE environment=? AND id=?)"
                ),
                (environment, old_id, environment, new_id),
            )
            db.execute(q(f"UPDATE {table} SET id=? WHERE environment=? AND id=?"), (new_id, environment, old_id))

    # -- history --------------------------------------------------------------------------------

    def history_begin(self, apply_id: str, environment: str, plan_id: str, workflow_id: str, requested_by: str) -> None:
        self._write(
            "INSERT INTO history (apply_id, environment, plan_id, workflow_id, requested_by, started_at, outcome)"
            " VALUES (?, ?, ?, ?, ?, ?, 'running') ON CONFLICT (apply_id) DO NOTHING",
            (apply_id, environment, plan_id, workflow_id, requested_by, time.time()),
        )

    def history_end(
        self,
        apply_id: str,
        outcome: str,
        summary: dict[str, Any],
        failures: dict[str, str] | None = None,
        keep_intents: bool = False,
    ) -> None:
        with self._tx() as db:
            db.execute(
                self._q("UPDATE history SET outcome=?, summary=?, failures=?, finished_at=? WHERE apply_id=?"),
                (outcome, json.dumps(summary, sort_keys=True), json.dumps(failures or {}), time.time(), apply_id),
            )
            # the apply ended (however): what it wrote ahead and never reached is not left over (a refused
            # or aborted apply has recorded its own reasons for what it did not run). An apply closed from
            # outside (terminated) recorded nothing: its write-ahead intents are the next plan's left-over work
            if keep_intents:
                return
            db.execute(
                self._q("DELETE FROM pending WHERE apply_id=? AND reason LIKE ?"), (apply_id, INTENT_PREFIX + " %")
            )

    # -- the lock row and the audit trail -------------------------------------------------------

    def lock_acquire(self, environment: str, apply_id: str, holder: str, location: str) -> LockHolder:
        """Take the environment's lock for ``apply_id`` if it is free; returns whoever holds it now."""
        with self._tx() as db:
            db.execute(
                self._q(
                    "INSERT INTO locks (environment, apply_id, holder, location, since) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (environment) DO NOTHING"
                ),
                (environment, apply_id, holder, location, time.time()),
            )
            row = db.execute(
                self._q("SELECT apply_id, holder, location, since FROM locks WHERE environment=?"), (environment,)
            ).fetchone()
            return LockHolder(environment, *row)  # just inserted or already there

    def force_unlock(self, environment: str, who: str, reason: str) -> LockHolder | None:
        """Clear the lock whoever holds it, with an audit entry, in one transaction; returns what was cleared."""
        q = self._q
        with self._tx() as db:
            row = db.execute(
                q("DELETE FROM locks WHERE environment=? RETURNING apply_id, holder, location, since"), (environment,)
            ).fetchone()
            cleared = LockHolder(environment, *row) if row else None
            db.execute(
                q("INSERT INTO audit (environment, at, who, action, detail) VALUES (?, ?, ?, 'unlock', ?)"),
                (environment, time.time(), who, json.dumps(unlock_detail(cleared, reason), sort_keys=True)),
            )
            return cleared

    def lock_release(self, environment: str, apply_id: str) -> bool:
        with self._tx() as db:
            cur = db.execute(self._q("DELETE FROM locks WHERE environment=? AND apply_id=?"), (environment, apply_id))
            return bool(cur.rowcount > 0)

    def mac_key(self) -> bytes:
        """The store's MAC secret (``meta.mac_key``): 32 random bytes made at its first use and kept in the
        store, so exactly those who can read the state can make a MAC. ``state export`` leaves it out."""
        rows = self._all("SELECT value FROM meta WHERE key='mac_key'")
        if not rows:
            # two processes may race here: the first insert wins and both read it back
            self._write(
                "INSERT INTO meta (key, value) VALUES ('mac_key', ?) ON CONFLICT (key) DO NOTHING",
                (secrets.token_hex(32),),
            )
            rows = self._all("SELECT value FROM meta WHERE key='mac_key'")
        return bytes.fromhex(str(rows[0][0]))

    def audit_add(self, environment: str, who: str, action: str, detail: dict[str, Any]) -> None:
        """One entry of the audit trail (an approval, an unlock), in its own transaction."""
        self._write(
            "INSERT INTO audit (environment, at, who, action, detail) VALUES (?, ?, ?, ?, ?)",
            (environment, time.time(), who, action, json.dumps(detail, sort_keys=True)),
        )


def changed_whats(
    upserts: Sequence[NodeRow], deletes: Sequence[str], done: Sequence[str], pending: Sequence[PendingRow]
) -> list[str]:
    """What one ``record`` changed, as its rows in the ``changes`` table name it."""
    return [*(u[0] for u in upserts), *deletes, *(f"action {a}" for a in done), *(f"action {p[0]}" for p in pending)]


def too_new(where: str, version: int, known: int) -> ModelplaneError:
    """The error for a store written by a newer modelplane: refuse it rather than guess at its schema."""
    return ModelplaneError(
        f"{where} has schema version {version}; this modelplane knows up to {known}",
        hint="upgrade modelplane (pip install -U modelplane)",
    )


def _trained_artifacts(rows: Sequence[Sequence[Any]]) -> dict[str, TrainedArtifact]:
    out: dict[str, TrainedArtifact] = {}
    for node_id, data, apply_id in rows:
        t = json.loads(data).get("trained")
        if isinstance(t, dict) and t.get("digest"):
            out[node_id] = TrainedArtifact(
                str(t["digest"]), str(t.get("path", "")), str(t.get("model_spec", "")), apply_id
            )
    return out
