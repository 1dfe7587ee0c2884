"""State that never lies: unique apply ids from the store's own counter and identity, a store that changed
under a worker is noticed (a file moved aside is opened again; another store is refused), and a truncated,
damaged or foreign state file is a clear error with the way out, never an empty state."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from modelplane.errors import ModelplaneError
from modelplane.runtime.state.sqlite import StateStore
from modelplane.runtime.temporal.activities import Activities
from modelplane.runtime.temporal.messages import Where
from modelplane.specs.project import StateSettings


def test_apply_ids_are_unique_and_name_their_store(store: Any) -> None:
    ids = [store.next_apply_id() for _ in range(3)]
    sid = store.store_id()
    assert ids == [f"1.{sid}", f"2.{sid}", f"3.{sid}"] and len(sid) == 16
    assert store.same_file()


def test_a_new_file_is_another_store_and_a_reopened_one_is_the_same(tmp_path: Path) -> None:
    a = StateStore(tmp_path / "a.db")
    sid = a.store_id()
    a.next_apply_id()
    a.close()
    again = StateStore(tmp_path / "a.db")
    assert again.store_id() == sid and again.next_apply_id() == f"2.{sid}"  # the counter is kept
    assert StateStore(tmp_path / "b.db").store_id() != sid


def test_a_file_moved_aside_is_no_longer_the_same_file(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "state.db")
    shutil.move(tmp_path / "state.db", tmp_path / "state.db.old")
    assert not s.same_file()
    StateStore(tmp_path / "state.db")  # a new one in its place
    assert not s.same_file()


def test_the_worker_reopens_a_moved_file_and_refuses_a_store_that_is_not_the_applys(tmp_path: Path) -> None:
    settings = StateSettings(path="state.db")
    acts = Activities(tmp_path, lambda env: StateStore(tmp_path / "state.db"))  # type: ignore[arg-type, return-value]
    first = acts.store_of(Where(root=str(tmp_path), state=settings), "dev")
    sid = first.store_id()
    inp = Where(root=str(tmp_path), state=settings, store_id=sid)
    assert acts.store_of(inp, "dev") is first  # the same file: the open store is kept
    shutil.move(tmp_path / "state.db", tmp_path / "state.db.aside")
    with pytest.raises(ApplicationError, match=r"state.db \(store .*\) is gone") as gone:
        acts.store_of(inp, "dev")
    assert gone.value.non_retryable and gone.value.type == "StoreChanged"
    assert not (tmp_path / "state.db").exists()  # no new empty state left in its place
    replaced = StateStore(tmp_path / "state.db")  # another store at the path (a new one, a restored copy)
    with pytest.raises(ApplicationError, match=f"it started on store {sid}") as exc:
        acts.store_of(inp, "dev")
    assert exc.value.type == "StoreChanged"
    fresh = Where(root=str(tmp_path), state=settings, store_id=replaced.store_id())
    assert acts.store_of(fresh, "dev").same_file()  # a new apply writes the file the settings name


def test_a_truncated_state_file_is_an_error_not_an_empty_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    path.write_bytes(b"")
    with pytest.raises(ModelplaneError, match="is empty \\(0 bytes\\): it was truncated") as exc:
        StateStore(path)
    assert "modelplane state import" in (exc.value.diagnostics[0].hint or "")


def test_a_damaged_state_file_is_an_error_with_the_recovery_command(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    s = StateStore(path)
    for i in range(300):  # a few pages of rows
        s.audit_add("dev", "me", "note", {"i": i, "pad": "x" * 200})
    s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for n in range(2, len(data) // page):  # garbage over every b-tree page header but the schema's
        data[n * page : n * page + 12] = b"\xff" * 12
    path.write_bytes(bytes(data))
    with pytest.raises(ModelplaneError) as exc:
        StateStore(path)
    d = exc.value.diagnostics[0]
    assert "state.db" in d.message and ("damaged" in d.message or "cannot open" in d.message)
    assert ".recover" in (d.hint or "") or "state import" in (d.hint or "")


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(ModelplaneError, match="an SQLite database of something else \\(tables: photos\\)"):
        StateStore(path)


def test_written_ahead_work_is_cleared_when_its_apply_ends_and_kept_when_it_dies(store: Any) -> None:
    from modelplane.runtime.temporal.messages import INTENT_PREFIX

    ahead = f"{INTENT_PREFIX} A (started now) and not finished by it"
    store.history_begin("A", "dev", "p", "wf", "me")
    store.record("dev", "A", pending=[("rollout:endpoint/e", "rollout", "endpoint/e", ahead),
                                      ("evaluate:evaluation/q", "evaluate", "evaluation/q", ahead)])  # fmt: skip
    store.record("dev", "B", pending=[("notify:owner/o", "notify", "owner/o", f"{INTENT_PREFIX} B ...")])
    store.record("dev", "A", pending=[("evaluate:evaluation/q", "evaluate", "evaluation/q", "failed: acc 0.1")])
    # while A runs (or after it died without ending) its work is pending: the next plan carries it
    assert set(store.applied("dev").pending) == {"rollout:endpoint/e", "evaluate:evaluation/q", "notify:owner/o"}
    store.history_end("A", "failed", {"failed": 1})
    pending = store.applied("dev").pending
    assert set(pending) == {"evaluate:evaluation/q", "notify:owner/o"}  # its own failure and B's work stay
    assert pending["evaluate:evaluation/q"].reason == "failed: acc 0.1"
