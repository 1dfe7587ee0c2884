"""The state store on both backends (SQLite, and a real PostgreSQL the tests start): schema versions,
atomic records, the ledger, pending actions, history, the lock row."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from modelplane.errors import ModelplaneError
from modelplane.runtime.executors.command import check_thresholds
from modelplane.runtime.state.ports import EffectWrites
from modelplane.runtime.state.postgres import MIGRATIONS as PG_MIGRATIONS
from modelplane.runtime.state.postgres import PostgresStore
from modelplane.runtime.state.sqlite import SCHEMA_VERSION, StateStore
from modelplane.specs.models import Metric
from tests.pg_server import PgDatabase

# -- schema versions (each backend keeps its own) ----------------------------------------------


def test_new_sqlite_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    StateStore(tmp_path / "s.db").close()
    assert sqlite3.connect(tmp_path / "s.db").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_new_postgres_database_gets_the_current_schema_version(pg_db: PgDatabase) -> None:
    PostgresStore(pg_db.url, pg_db.password).close()
    with psycopg.connect(pg_db.url, password=pg_db.password) as db:
        assert db.execute("SELECT version FROM modelplane_schema").fetchall() == [(SCHEMA_VERSION,)]


def test_a_newer_sqlite_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(
        ModelplaneError, match=f"has schema version {SCHEMA_VERSION + 1}; this modelplane knows up to {SCHEMA_VERSION}"
    ) as exc:
        StateStore(tmp_path / "s.db")
    assert "upgrade modelplane" in (exc.value.diagnostics[0].hint or "")


def test_a_newer_postgres_schema_is_refused_with_a_hint(pg_db: PgDatabase) -> None:
    PostgresStore(pg_db.url, pg_db.password).close()
    with psycopg.connect(pg_db.url, password=pg_db.password, autocommit=True) as db:
        db.execute("UPDATE modelplane_schema SET version=%s", (SCHEMA_VERSION + 1,))
    with pytest.raises(
        ModelplaneError, match=f"has schema version {SCHEMA_VERSION + 1}; this modelplane knows up to {SCHEMA_VERSION}"
    ) as exc:
        PostgresStore(pg_db.url, pg_db.password)
    assert "upgrade modelplane" in (exc.value.diagnostics[0].hint or "")
    assert pg_db.password not in str(exc.value)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_text("hello, this is not sqlite" * 100)
    with pytest.raises(ModelplaneError, match="cannot open the state file"):
        StateStore(tmp_path / "s.db")


def test_a_version_1_sqlite_file_is_migrated_in_place(tmp_path: Path) -> None:
    from modelplane.runtime.state.sqlite import MIGRATIONS

    db = sqlite3.connect(tmp_path / "s.db")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(
        "INSERT INTO history (apply_id, environment, plan_id, workflow_id, requested_by, started_at, outcome)"
        " VALUES ('a1', 'dev', 'p', 'w', 'me', 1.0, 'succeeded')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = StateStore(tmp_path / "s.db")
    assert [h.failures for h in store.history("dev")] == [{}]  # the column added by migration 2
    assert store.lock_holder("dev") is None  # the table added by migration 3
    assert store.schema_version() == SCHEMA_VERSION


def test_a_version_1_postgres_database_is_migrated_in_place(pg_db: PgDatabase) -> None:
    with psycopg.connect(pg_db.url, password=pg_db.password, autocommit=True) as db:
        db.execute("CREATE TABLE modelplane_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO modelplane_schema VALUES (1)")
        for statement in PG_MIGRATIONS[0]:
            db.execute(statement)
        db.execute(
            "INSERT INTO history (apply_id, environment, plan_id, workflow_id, requested_by, started_at, outcome)"
            " VALUES ('a1', 'dev', 'p', 'w', 'me', 1.0, 'succeeded')"
        )
    store = PostgresStore(pg_db.url, pg_db.password)
    assert [h.failures for h in store.history("dev")] == [{}]
    assert store.lock_holder("dev") is None
    assert store.schema_version() == SCHEMA_VERSION


def test_two_processes_opening_a_new_postgres_database_at_once_migrate_it_once(pg_db: PgDatabase) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresStore(pg_db.url, pg_db.password).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(pg_db.url, password=pg_db.password) as db:
        assert db.execute("SELECT version FROM modelplane_schema").fetchall() == [(SCHEMA_VERSION,)]


# -- behaviour, the same on both backends ------------------------------------------------------


def test_records_bump_the_serial_and_say_what_changed(store: Any) -> None:
    doc = {"kind": "Dataset", "metadata": {"name": "a"}}
    assert store.record("dev", "p1", upserts=[("dataset/a", "Dataset", "specs/a.yaml", 0, doc)]) == 1
    assert store.record("dev", "p1", pending=[("rollout:endpoint/e", "rollout", "endpoint/e", "failed")]) == 2
    assert store.serial("prod") == 0  # environments are separate
    state = store.applied("dev")
    assert state.serial == 2 and state.nodes["dataset/a"].data == doc
    assert state.nodes["dataset/a"].file == "specs/a.yaml" and state.nodes["dataset/a"].index == 0
    assert state.pending["rollout:endpoint/e"].reason == "failed"
    assert store.changed_since("dev", 1) == ["action rollout:endpoint/e"]
    assert store.changed_since("dev", 0) == ["action rollout:endpoint/e", "dataset/a"]
    store.record("dev", "p2", deletes=["dataset/a"], done=["rollout:endpoint/e"])
    assert store.applied("dev").nodes == {} and store.applied("dev").pending == {}


def test_a_moved_node_takes_its_new_id_with_its_outputs_in_the_records_transaction(store: Any) -> None:
    old = {"kind": "Endpoint", "metadata": {"name": "chat"}}
    store.record("dev", "p1", upserts=[("endpoint/chat", "Endpoint", "specs/s.yaml", 0, old)])
    store.ledger_begin("k", "dev", "p1", "provision:endpoint/chat")
    store.ledger_done(
        "k", {}, environment="dev", apply_id="p1", writes=EffectWrites(outputs={"endpoint/chat": {"url": "u"}})
    )
    new = {"kind": "Endpoint", "metadata": {"name": "chatbot"}}
    moved = [("endpoint/chatbot", "Endpoint", "specs/s.yaml", 0, new)]
    serial = store.record("dev", "p2", upserts=moved, moves=[("endpoint/chat", "endpoint/chatbot")])
    state = store.applied("dev")
    assert set(state.nodes) == {"endpoint/chatbot"} and state.nodes["endpoint/chatbot"].data == new
    assert store.outputs("dev") == {"endpoint/chatbot": {"url": "u"}}
    assert "endpoint/chat" in store.changed_since("dev", serial - 1)
    assert [v.op for v in store.node_versions("dev", "endpoint/chat")] == ["upsert", "moved"]
    # recorded again (a retry whose first try committed): the new row stays, nothing is duplicated
    store.record("dev", "p2", upserts=moved, moves=[("endpoint/chat", "endpoint/chatbot")])
    assert set(store.applied("dev").nodes) == {"endpoint/chatbot"}
    assert store.outputs("dev") == {"endpoint/chatbot": {"url": "u"}}


def test_a_failed_move_changes_nothing(store: Any) -> None:
    store.record("dev", "p1", upserts=[("model/a", "Model", "f", 0, {})])
    # the upsert after the move breaks a NOT NULL inside the transaction: the move rolls back with it
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.NotNullViolation)):
        store.record("dev", "p2", upserts=[("model/b", None, "f", 0, {})], moves=[("model/a", "model/b")])
    assert set(store.applied("dev").nodes) == {"model/a"}


def test_a_failed_write_changes_nothing(store: Any) -> None:
    bad = {"x": object()}  # not JSON: the transaction must roll back as a whole
    with pytest.raises(TypeError):
        store.record("dev", "p", upserts=[("dataset/a", "Dataset", "f", 0, {}), ("dataset/b", "Dataset", "f", 0, bad)])
    assert store.serial("dev") == 0 and store.applied("dev").nodes == {}
    assert store.record("dev", "p", upserts=[("dataset/a", "Dataset", "f", 0, {})]) == 1  # the store still works


def test_ledger_counts_attempts_and_returns_done_results(store: Any) -> None:
    assert store.ledger_begin("k", "dev", "p", "register:a").attempts == 1
    assert store.ledger_begin("k", "dev", "p", "register:a").attempts == 2  # a retry after a crash
    store.ledger_done(
        "k", {"ok": True}, environment="dev", apply_id="p", writes=EffectWrites(catalog=("dataset/a", "1", {}))
    )
    again = store.ledger_begin("k", "dev", "p", "register:a")
    assert again.status == "done" and again.result == {"ok": True} and again.attempts == 2
    assert [c["id"] for c in store.catalog("dev")] == ["dataset/a"]
    assert [(e.key, e.status, e.attempts) for e in store.ledger("dev")] == [("k", "done", 2)]


def test_a_failed_effect_is_kept_but_never_overwrites_a_done_one(store: Any) -> None:
    store.ledger_begin("a", "dev", "p", "run:a")
    store.ledger_failed("a", "exit 3")
    store.ledger_begin("b", "dev", "p", "run:b")
    store.ledger_done("b", {"n": 1}, environment="dev", apply_id="p")
    store.ledger_failed("b", "late failure report")
    assert [(e.key, e.status, e.result) for e in store.ledger()] == [
        ("a", "failed", {"error": "exit 3"}),
        ("b", "done", {"n": 1}),
    ]


def test_a_repeated_done_write_writes_its_rows_once(store: Any) -> None:
    """Issue 30: a ledger write retried after a dropped connection (its first try may have committed)."""
    store.ledger_begin("k", "dev", "p", "register:a")
    for _ in range(2):
        writes = EffectWrites(catalog=("dataset/a", "1", {}), notification=("team-a", "m", {}))
        store.ledger_done("k", {"n": 1}, environment="dev", apply_id="p", writes=writes)
    assert len(store.catalog("dev")) == 1 and len(store.notifications("dev")) == 1


def test_outputs_and_notifications_are_written_with_the_effect(store: Any) -> None:
    store.ledger_begin("k1", "dev", "p", "provision:e")
    store.ledger_done(
        "k1",
        {},
        environment="dev",
        apply_id="p",
        writes=EffectWrites(
            outputs={"endpoint/e": {"url": "http://127.0.0.1:1/v1"}},
            notification=("team-a", "endpoint/e changed", {"impact": "rollout"}),
        ),
    )
    store.ledger_begin("k2", "dev", "p2", "notify:b")
    store.ledger_done("k2", {}, environment="dev", apply_id="p2", writes=EffectWrites(notification=("team-b", "b", {})))
    assert store.outputs("dev") == {"endpoint/e": {"url": "http://127.0.0.1:1/v1"}}
    assert [n["owner"] for n in store.notifications("dev")] == ["team-a", "team-b"]  # in the order written
    (only,) = store.notifications("dev", apply_id="p")
    assert only["message"] == "endpoint/e changed" and only["impact"] == "rollout"
    store.record("dev", "p3", deletes=["endpoint/e"])
    assert store.outputs("dev") == {}  # a deleted node takes its outputs along


def test_history_begins_once_and_ends_with_the_outcome(store: Any) -> None:
    store.history_begin("a1", "dev", "plan1", "apply/demo/dev", "alice")
    store.history_begin("a1", "dev", "plan1", "apply/demo/dev", "alice")  # a retried activity
    store.history_begin("a2", "prod", "plan2", "apply/demo/prod", "bob")
    store.history_end("a1", "failed", {"done": 1}, {"run:x": "exit 1"})
    (h,) = store.history("dev")
    assert (h.apply_id, h.outcome, h.summary, h.failures, h.requested_by) == (
        "a1",
        "failed",
        {"done": 1},
        {"run:x": "exit 1"},
        "alice",
    )
    assert h.finished_at is not None and h.finished_at >= h.started_at
    assert {x.apply_id for x in store.history()} == {"a1", "a2"}
    assert [x.apply_id for x in store.history(limit=1)] == ["a2"]  # newest first


def test_the_lock_row_names_its_holder_and_is_released_by_it_only(store: Any) -> None:
    first = store.lock_acquire("prod", "a1", "alice", "laptop:/src/proj")
    assert (first.apply_id, first.holder, first.location) == ("a1", "alice", "laptop:/src/proj")
    second = store.lock_acquire("prod", "a2", "bob", "ci:/build")
    assert second == first  # refused: the caller sees who holds it, from where, since when
    assert store.lock_acquire("dev", "a3", "bob", "ci:/build").apply_id == "a3"  # per environment
    assert store.lock_release("prod", "a2") is False and store.lock_holder("prod") == first
    assert store.lock_release("prod", "a1") is True and store.lock_holder("prod") is None


def test_force_unlock_clears_the_lock_and_leaves_an_audit_entry(store: Any) -> None:
    held = store.lock_acquire("prod", "a1", "alice", "laptop:/src/proj")
    assert store.force_unlock("prod", "bob@ci", "alice's laptop died") == held
    assert store.lock_holder("prod") is None
    (entry,) = store.audit("prod")
    assert (entry.who, entry.action) == ("bob@ci", "unlock")
    assert entry.detail["cleared"]["apply_id"] == "a1" and entry.detail["reason"] == "alice's laptop died"
    assert store.force_unlock("prod", "bob@ci", "") is None and len(store.audit()) == 2


def test_a_store_is_empty_until_written(store: Any) -> None:
    assert store.is_empty()
    store.history_begin("a1", "dev", "p", "w", "me")
    assert not store.is_empty()


# -- PostgreSQL under concurrency: two machines writing one database ------------------------------


def test_concurrent_writers_on_postgres_never_share_a_serial(pg_db: PgDatabase) -> None:
    stores = [PostgresStore(pg_db.url, pg_db.password) for _ in range(4)]
    serials: list[int] = []
    lock = threading.Lock()

    def write(s: PostgresStore, n: int) -> None:
        for i in range(10):
            got = s.record("prod", f"a{n}", upserts=[(f"dataset/d{n}-{i}", "Dataset", "f", i, {"i": i})])
            with lock:
                serials.append(got)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(serials) == list(range(1, 41))
    assert stores[0].serial("prod") == 40 and len(stores[0].applied("prod").nodes) == 40


def test_concurrent_attempts_on_postgres_are_each_counted(pg_db: PgDatabase) -> None:
    stores = [PostgresStore(pg_db.url, pg_db.password) for _ in range(4)]
    attempts: list[int] = []

    def begin(s: PostgresStore) -> None:
        for _ in range(5):
            attempts.append(s.ledger_begin("k", "prod", "p", "run:a").attempts)

    threads = [threading.Thread(target=begin, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(attempts) == list(range(1, 21))


def test_thresholds() -> None:
    raw = [{"name": "acc", "min": 0.5}, {"name": "tox", "max": 0.1}, {"name": "f1", "min": 0.1}]
    declared = [Metric.model_validate(m) for m in raw]  # the executor reads typed metrics
    assert check_thresholds(declared, {"acc": 0.4, "tox": 0.2, "f1": "x"}) == [
        "acc=0.4 below min 0.5",
        "tox=0.2 above max 0.1",
        "f1='x' not a number",
    ]
    assert check_thresholds(declared[:1], {}) == ["acc missing from the metrics"]
    assert check_thresholds(declared[:2], {"acc": 0.9, "tox": 0.0}) == []


@pytest.mark.parametrize(("ci", "outcome", "rc"), [("true", "1 error", 1), ("", "1 skipped", 0)])
def test_without_postgresql_ci_fails_and_a_laptop_skips(tmp_path: Path, ci: str, outcome: str, rc: int) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "CI": ci, "MODELPLANE_PG_BINDIR": str(tmp_path / "no-postgres-here")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/runtime/test_state_store.py",
            "-k",
            "test_records_bump_the_serial_and_say_what_changed",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 passed" in proc.stdout and outcome in proc.stdout, proc.stdout + proc.stderr  # sqlite passes either way
    assert proc.returncode == rc
    assert "initdb/pg_ctl not found" in proc.stdout
