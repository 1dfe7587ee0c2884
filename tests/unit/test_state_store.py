"""The SQLite state store: schema versioning, atomic records, the ledger, pending actions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from modelplane.compiler.errors import ModelplaneError
from modelplane.runtime.executors.command import check_thresholds
from modelplane.runtime.state_store import SCHEMA_VERSION, StateStore
from modelplane.specs.models import Metric


def test_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    StateStore(tmp_path / "s.db").close()
    assert sqlite3.connect(tmp_path / "s.db").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ModelplaneError, match="has schema version 3; this modelplane knows up to 2") as exc:
        StateStore(tmp_path / "s.db")
    assert "upgrade modelplane" in (exc.value.diagnostics[0].hint or "")


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_text("hello, this is not sqlite" * 100)
    with pytest.raises(ModelplaneError, match="cannot open the state file"):
        StateStore(tmp_path / "s.db")


def test_records_bump_the_serial_and_say_what_changed(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    doc = {"kind": "Dataset", "metadata": {"name": "a"}}
    assert store.record("dev", "p1", upserts=[("dataset/a", "Dataset", "specs/a.yaml", 0, doc)]) == 1
    assert store.record("dev", "p1", pending=[("rollout:endpoint/e", "rollout", "endpoint/e", "failed")]) == 2
    assert store.serial("prod") == 0  # environments are separate
    state = store.applied("dev")
    assert state.serial == 2 and state.nodes["dataset/a"].data == doc
    assert state.pending["rollout:endpoint/e"].reason == "failed"
    assert store.changed_since("dev", 1) == ["action rollout:endpoint/e"]
    store.record("dev", "p2", deletes=["dataset/a"], done=["rollout:endpoint/e"])
    assert store.applied("dev").nodes == {} and store.applied("dev").pending == {}


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    bad = {"x": object()}  # not JSON: the transaction must roll back as a whole
    with pytest.raises(TypeError):
        store.record("dev", "p", upserts=[("dataset/a", "Dataset", "f", 0, {}), ("dataset/b", "Dataset", "f", 0, bad)])
    assert store.serial("dev") == 0 and store.applied("dev").nodes == {}


def test_ledger_counts_attempts_and_returns_done_results(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    assert store.ledger_begin("k", "dev", "p", "register:a").attempts == 1
    assert store.ledger_begin("k", "dev", "p", "register:a").attempts == 2  # a retry after a crash
    store.ledger_done("k", {"ok": True}, environment="dev", apply_id="p", catalog=("dataset/a", "1", {}))
    again = store.ledger_begin("k", "dev", "p", "register:a")
    assert again.status == "done" and again.result == {"ok": True} and again.attempts == 2
    assert [c["id"] for c in store.catalog("dev")] == ["dataset/a"]


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


def test_a_version_1_file_is_migrated_in_place(tmp_path: Path) -> None:
    from modelplane.runtime.state_store import MIGRATIONS

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
