"""State that never lies, end to end: the state file moved aside while the background worker runs (what
the error hints suggest) is a new, empty store; the next plan shows all the work again, and the next apply
does it and records it there, instead of answering "done" from the worker's handle on the old file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modelplane.runtime.state.sqlite import StateStore
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration


def test_a_state_moved_aside_under_a_running_worker_gets_the_work_done_again_and_recorded(
    pipeline: Pipeline,
) -> None:
    first = pipeline.run("apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    worker = pipeline.worker_pid()
    state = pipeline.root / ".modelplane" / "state.db"
    old_id = StateStore(state).store_id()
    for suffix in ("", "-wal", "-shm"):  # the whole SQLite file set, as `mv state.db*` would
        if (pipeline.root / ".modelplane" / f"state.db{suffix}").exists():
            shutil.move(state.with_name(f"state.db{suffix}"), state.with_name(f"moved.db{suffix}"))

    plan = pipeline.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout  # the empty state: everything is to do again
    again = pipeline.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert pipeline.worker_pid() == worker  # the same background worker, which held the old file open
    assert pipeline.count("eval", "done") == 2  # really done again (the first apply evaluates; so does this)

    new = StateStore(state)
    assert new.store_id() != old_id
    assert len(new.applied("dev").nodes) > 0 and new.serial("dev") > 0  # recorded in the store that is there
    (last,) = new.history("dev")
    assert last.outcome == "succeeded" and last.apply_id.endswith(new.store_id())
    assert pipeline.run("plan", "--detailed-exitcode").returncode == 0
    doc = json.loads(pipeline.run("history", "--format", "json", check=True).stdout)
    assert len(doc) == 1  # the moved-aside file keeps the first apply; this store has the second only
    assert StateStore(state.with_name("moved.db")).history("dev")[0].apply_id.endswith(old_id)


def test_one_server_per_database_even_when_its_record_is_lost(tmp_path: Path) -> None:
    from modelplane.errors import ModelplaneError
    from modelplane.runtime.temporal.server import claim_database, ensure_server, state_dir, stop_server

    root = tmp_path / "proj"
    root.mkdir()
    first = ensure_server(root, ui="off")
    try:
        record = state_dir(root) / "temporal.json"
        record.unlink()  # as when temporal.json is deleted mid-apply
        again = ensure_server(root, ui="off")
        assert again.pid == first.pid and again.address == first.address  # adopted, not a second server
        assert record.exists()
        with pytest.raises(ModelplaneError, match=f"already runs on .*temporal.db \\(pid {first.pid}"):
            claim_database(state_dir(root) / "temporal.db")  # what `modelplane server` takes first
    finally:
        stop_server(root)
    # once it is gone the lock is free again: a new server starts
    fresh = ensure_server(root, ui="off")
    try:
        assert fresh.pid != first.pid
    finally:
        stop_server(root)


def test_an_apply_terminated_mid_rollout_leaves_its_work_pending_and_the_next_apply_repairs_it(
    tmp_path: Path,
) -> None:
    import subprocess
    import time

    from modelplane.runtime.temporal.server import temporal_binary
    from tests.integration.pipeline import make_pipeline

    p = make_pipeline(tmp_path / "p", serving=True)
    try:
        p.run("apply", "--auto-approve", check=True)
        p.edit('version: "1.0.0"', 'version: "1.1.0"')
        p.edit("{weight: 50, pause: 1s}", "{weight: 50, pause: manual}", file="specs/serving.yaml")

        def wait_gate() -> None:
            deadline = time.monotonic() + 90
            while "waits for approval" not in p.run("status").stdout:
                assert time.monotonic() < deadline, p.run("status").stdout
                time.sleep(0.3)

        apply = p.start("apply", "--auto-approve")
        wait_gate()
        assert sorted(r["weight"] for r in p.registry()["revisions"].values()) == [50, 50]  # half-done
        address = json.loads((p.root / ".modelplane" / "temporal.json").read_text())["address"]
        # from outside, as anyone on the machine can with the embedded server
        subprocess.run(
            [temporal_binary(), "workflow", "terminate", "--address", address, "--workflow-id", "apply/pipeline/dev",
             "--reason", "probe"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        apply.wait(timeout=60)

        status = p.run("status", check=True).stdout
        assert "no apply running" in status and "pending rollout:endpoint/chat: started by apply" in status, status
        plan = p.run("plan", "--detailed-exitcode")
        assert plan.returncode == 2, plan.stdout
        assert "rollout" in plan.stdout and "left over from an earlier apply" in " ".join(plan.stdout.split())

        repair = p.start("apply", "--auto-approve")
        wait_gate()  # the same manual step: the canary's replicas are adopted, the step taken again
        p.run("approve", "chat", check=True)
        out, _ = repair.communicate(timeout=120)
        assert repair.returncode == 0, out
        (stable,) = p.registry()["revisions"].values()
        assert stable["weight"] == 100 and stable["model"] == "chat@1.1.0"  # router at 100/0 on the new revision
        assert p.run("plan", "--detailed-exitcode").returncode == 0
        assert "pending" not in p.run("status", check=True).stdout
    finally:
        p.stop()
