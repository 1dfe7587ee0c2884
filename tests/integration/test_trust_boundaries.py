"""Issue 30: only a plan modelplane made runs, only its owners approve it (items 1 and 3).

Real processes throughout: the CLI, the embedded Temporal server, the worker, and the ``temporal`` CLI
starting a workflow from an input copied out of a past apply (a second OS user does not reach the server
at all: test_temporal_owner_only.py).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from modelplane.runtime.settings import settings_for
from modelplane.runtime.state.sqlite import StateStore
from modelplane.runtime.temporal.server import temporal_binary
from tests.integration.pipeline import PROJECT, Pipeline, make_pipeline

pytestmark = pytest.mark.integration

PREP = ["python3", "scripts/step.py", "prep"]


def _replace(doc: Any, old: Any, new: Any) -> int:
    """Every occurrence of ``old`` in a JSON document replaced in place; how many."""
    n = 0
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in list(items):
        if v == old:
            doc[k] = new
            n += 1
        else:
            n += _replace(v, old, new)
    return n


def _audit(p: Pipeline, action: str) -> list[dict[str, Any]]:
    return [e.detail for e in StateStore(p.root / ".modelplane" / "state.db").audit("dev") if e.action == action]


def test_an_edited_plan_is_refused_before_any_action_and_audited(pipeline: Pipeline, tmp_path: Path) -> None:
    p = pipeline
    pwned = tmp_path / "pwned"
    plan = str(p.root / "plan.json")
    p.run("plan", "--out", plan, check=True)
    doc = json.loads((p.root / "plan.json").read_text())
    assert doc["execution"]["seal"]
    assert _replace(doc["execution"], PREP, ["python3", "-c", f"open({str(pwned)!r}, 'w')"]) > 0
    (p.root / "plan.json").write_text(json.dumps(doc))
    out = p.run("apply", plan, "--auto-approve")
    said = out.stdout + out.stderr
    assert out.returncode == 1, said
    assert f"{plan} does not match its seal: it was edited after it was saved" in said, said
    assert "modelplane plan --out FILE" in said  # how to fix it
    assert not pwned.exists() and p.effects() == []  # nothing ran
    (refused,) = _audit(p, "refused")
    assert refused["plan"] == plan and "edited" in refused["why"]


def test_edited_engine_arguments_are_refused(tmp_path: Path) -> None:
    p = make_pipeline(tmp_path / "serving", serving=True)
    try:
        p.run("plan", "--out", str(p.root / "plan.json"), check=True)
        doc = json.loads((p.root / "plan.json").read_text())
        rollout = next(a for a in doc["execution"]["actions"] if a["id"].startswith("rollout:"))
        assert "engine_args" in rollout["details"]
        rollout["details"]["engine_args"] = [*rollout["details"]["engine_args"], "--trust-remote-code"]
        (p.root / "plan.json").write_text(json.dumps(doc))
        out = p.run("apply", str(p.root / "plan.json"), "--auto-approve")
        assert out.returncode == 1 and "does not match its seal" in out.stderr, out.stdout + out.stderr
        assert not (p.root / ".modelplane" / "local").exists()  # no replica, no router
        assert len(_audit(p, "refused")) == 1
    finally:
        p.stop()


def test_a_saved_plan_is_refused_when_the_specs_changed_unless_asked(pipeline: Pipeline) -> None:
    p = pipeline
    plan = str(p.root / "plan.json")
    p.run("plan", "--out", plan, check=True)
    p.edit("tier: 2", "tier: 3")
    out = p.run("apply", plan, "--auto-approve")
    assert out.returncode == 1 and f"the specs on disk changed since {plan} was made" in out.stderr, out.stderr
    assert "--allow-stale-specs" in out.stderr and p.effects() == []


async def _started_input(p: Pipeline) -> tuple[str, str, dict[str, Any]]:
    """The server's address, the task queue and the input of the project's last apply, from its history."""
    from temporalio.client import Client

    s = settings_for(p.root, "dev")
    address = json.loads((p.root / ".modelplane" / "temporal.json").read_text())["address"]
    client = await Client.connect(address, namespace=s.temporal.namespace)
    history = await client.get_workflow_handle(s.workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return address, started.task_queue.name, json.loads(started.input.payloads[0].data)


def test_a_forged_input_started_on_the_workflow_service_runs_nothing(pipeline: Pipeline) -> None:
    """An input copied from a past apply with an edited command, started with the ``temporal`` CLI by a client
    that reaches the service (on the embedded server only the owner's uid does, see
    test_temporal_owner_only.py; in team mode anyone with namespace access), runs nothing and is audited."""
    p = pipeline
    p.run("apply", "--auto-approve", check=True, timeout=400)
    before = len(p.effects())
    address, queue, inp = asyncio.run(_started_input(p))
    shared = Path(tempfile.mkdtemp(prefix="mp-forged-", dir="/tmp"))
    try:
        pwned = shared / "pwned"
        assert _replace(inp, PREP, ["sh", "-c", f"touch {pwned}"]) > 0
        (shared / "input.json").write_text(json.dumps(inp))
        cmd = [temporal_binary(), "workflow", "execute", "--address", address, "--task-queue", queue,
               "--type", "ApplyPlan", "--workflow-id", "forged", "--input-file", str(shared / "input.json")]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=shared)
        said = out.stdout + out.stderr
        assert "refused the workflow input" in said and "its MAC does not match" in said, said
        assert not pwned.exists() and len(p.effects()) == before  # no command ran
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    refused = [e for e in _audit(p, "refused") if e.get("workflow_id") == "forged"]
    assert len(refused) == 1 and "MAC does not match" in refused[0]["why"]
    history = p.run("history", check=True).stdout.splitlines()
    assert len(history) == 1 and "succeeded" in history[0], history  # the past apply's row is untouched


APPROVALS = PROJECT.replace("  dev: {}", "  dev:\n    approvals: {require: [retrain-required], approvers: APPROVERS}")


def _held(p: Pipeline, approvers: str) -> str:
    p.run("apply", "--auto-approve", check=True, timeout=400)
    (p.root / "modelplane.yaml").write_text(APPROVALS.replace("APPROVERS", approvers))
    p.edit('version: "1"', 'version: "2"')
    p.run("plan", "--out", str(p.root / "plan.json"), check=True)
    return str(json.loads((p.root / "plan.json").read_text())["execution"]["seal"])


def test_approvals_bind_the_os_user_not_USER_and_only_owners_the_plan_names(pipeline: Pipeline) -> None:
    p = pipeline
    _held(p, "{team-ml: [alice], team-data: [alice]}")
    as_alice = Pipeline(p.root, env={"USER": "alice", "LOGNAME": "alice"})
    out = as_alice.run("approve", "--plan", str(p.root / "plan.json"), "--owner", "team-ml")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "may not approve for team-ml: the plan's policy lists alice" in out.stderr, out.stderr
    assert "(os-user: uid" in out.stderr  # says where the identity came from
    unknown = p.run("approve", "--plan", str(p.root / "plan.json"), "--owner", "team-nobody")
    assert unknown.returncode == 1 and "does not need an approval from `team-nobody`" in unknown.stderr
    assert _audit(p, "approve") == []


def test_the_plans_policy_holds_when_the_appliers_file_drops_it(pipeline: Pipeline) -> None:
    p = pipeline
    _held(p, "{}")
    before = len(p.effects())
    (p.root / "modelplane.yaml").write_text(PROJECT)  # the applier removes the policy from their file
    out = p.run("apply", str(p.root / "plan.json"), "--auto-approve", "--allow-stale-specs")
    said = out.stdout + out.stderr
    assert out.returncode == 1 and "dev requires the owners' approval for retrain-required" in said, said
    assert len(p.effects()) == before  # nothing ran
