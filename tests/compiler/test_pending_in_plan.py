"""Work a failed apply left is part of the next plan: shown with its reason, counted, and never dropped.

The state store is seeded directly (as an apply whose rollout failed leaves it:
every node recorded, the rollout and the owner's notice pending), then `plan`
runs through the CLI against it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.compile import compile_graph
from modelplane.runtime.settings import settings_for, state_path
from modelplane.runtime.state.sqlite import StateStore
from tests.conftest import EXAMPLES

runner = CliRunner()

ROLLOUT_FAILED = "failed: analysis at 20%: p99 latency 1450 ms above the SLO's 1000 ms"
NOTIFY_SKIPPED = "skipped: rollout:endpoint/tiny-chat failed"


@pytest.fixture
def applied(tmp_path: Path) -> tuple[Path, StateStore]:
    """The quickstart, applied in full: plan against it shows nothing until pending actions are added."""
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root)
    graph = compile_graph(root, use_cache=False).graph
    s = settings_for(root, None)
    store = StateStore(state_path(s.root, s.state))
    upserts = [(str(n.id), n.kind, n.file, n.index, n.data) for n in graph.nodes.values()]
    store.record(s.environment, "apply-1", upserts=upserts)
    return root, store


def _leave(store: StateStore, root: Path, *pending: tuple[str, str]) -> None:
    env = settings_for(root, None).environment
    store.record(env, "apply-2", pending=[(aid, *aid.split(":", 1), why) for aid, why in pending])  # type: ignore[misc]


def _plan(root: Path, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["plan", "-C", str(root), "--detailed-exitcode", *args])
    return res.exit_code, res.output


def test_fully_applied_state_is_no_changes_and_exit_0(applied: tuple[Path, StateStore]) -> None:
    root, _ = applied
    code, out = _plan(root)
    assert code == 0, out
    assert "No changes. The specs match what is applied." in out


def test_plan_after_a_failed_rollout_shows_the_leftover_and_exits_2(applied: tuple[Path, StateStore]) -> None:
    root, store = applied
    _leave(store, root, ("rollout:endpoint/tiny-chat", ROLLOUT_FAILED))

    code, text = _plan(root)
    assert code == 2, text
    first = text.splitlines()[0]
    assert first.startswith("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete; 1 action ")  # not "1 actions"
    assert "(1 left over from an earlier apply)" in first
    assert "No changes. The specs match" not in text
    assert "Left over from an earlier apply" in text
    assert f"rollout:endpoint/tiny-chat: {ROLLOUT_FAILED}" in text
    assert "1. rollout       endpoint/tiny-chat" in text

    code, md = _plan(root, "--format", "markdown")
    assert code == 2
    assert "No changes: the specs match" not in md
    assert "1 action (1 left over from an earlier apply)" in md
    assert "### Left over from an earlier apply" in md
    assert (
        "| `rollout:endpoint/tiny-chat` | failed: analysis at 20%: p99 latency 1450 ms above the SLO's 1000 ms | yes |"
        in md
    )

    code, raw = _plan(root, "--format", "json")
    assert code == 2
    plan = json.loads(raw)
    assert plan["changes"] == []
    assert plan["summary"]["left_over"] == 1
    assert plan["left_over"] == [
        {"action": "rollout:endpoint/tiny-chat", "reason": ROLLOUT_FAILED, "in_plan": True, "note": None}
    ]
    assert [a["id"] for a in plan["actions"]] == ["rollout:endpoint/tiny-chat"]
    assert plan["actions"][0]["reason"] == f"left over from an earlier apply: {ROLLOUT_FAILED}"


def test_a_leftover_notify_is_kept_and_sent_after_the_leftover_rollout(applied: tuple[Path, StateStore]) -> None:
    root, store = applied
    _leave(
        store,
        root,
        ("rollout:endpoint/tiny-chat", ROLLOUT_FAILED),
        ("notify:owner/team-support-tools", NOTIFY_SKIPPED),
    )
    code, raw = _plan(root, "--format", "json")
    assert code == 2
    plan = json.loads(raw)
    assert plan["summary"]["left_over"] == 2
    assert {lo["action"] for lo in plan["left_over"] if lo["in_plan"]} == {
        "rollout:endpoint/tiny-chat",
        "notify:owner/team-support-tools",
    }
    actions = {a["id"]: a for a in plan["actions"]}
    notify = actions["notify:owner/team-support-tools"]
    assert notify["depends_on"] == ["rollout:endpoint/tiny-chat"]
    assert notify["reason"].startswith(f"left over from an earlier apply: {NOTIFY_SKIPPED}")
    assert notify["details"]["services"] == ["service/support-bot"]  # the service behind the left-over rollout
    assert [a["id"] for a in plan["actions"]] == ["rollout:endpoint/tiny-chat", "notify:owner/team-support-tools"]
    assert [o["owner"] for o in plan["owners_to_notify"]] == ["team-support-tools"]

    code, text = _plan(root)
    assert f"notify:owner/team-support-tools: {NOTIFY_SKIPPED}" in text
    assert "2. notify        owner/team-support-tools  after rollout:endpoint/tiny-chat" in text


def test_a_leftover_notify_alone_still_goes_out(applied: tuple[Path, StateStore]) -> None:
    """Everything else finished: the notice is the only work left, to an owner nothing in the specs points at."""
    root, store = applied
    _leave(store, root, ("notify:owner/team-gone", NOTIFY_SKIPPED))
    code, raw = _plan(root, "--format", "json")
    assert code == 2
    plan = json.loads(raw)
    assert [a["id"] for a in plan["actions"]] == ["notify:owner/team-gone"]
    assert plan["actions"][0]["details"]["services"] == []
    code, text = _plan(root)
    assert "  owed from an earlier apply\n    team-gone: their notice" in text


def test_a_leftover_whose_node_is_gone_is_listed_not_run(applied: tuple[Path, StateStore]) -> None:
    root, store = applied
    _leave(store, root, ("rollout:endpoint/gone", ROLLOUT_FAILED))
    code, text = _plan(root)
    assert code == 0, text  # nothing can run for it: the plan has no work
    assert "No changes. The specs match what is applied." in text
    assert "rollout:endpoint/gone" in text
    assert "not in this plan: endpoint/gone is no longer in the specs, so its rollout cannot run" in text
    code, raw = _plan(root, "--format", "json")
    plan = json.loads(raw)
    assert plan["actions"] == [] and plan["summary"]["left_over"] == 0
    assert plan["left_over"][0]["in_plan"] is False
