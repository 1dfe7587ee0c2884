"""A retrain without a version bump on the real local stack (a copy of the quickstart, real Temporal): the plan
says the endpoint rolls out the artifact trained in this apply as a canary, gated by the model's blocking
evaluation; the apply trains, registers the artifact's digest, and rolls a new revision (its id covering the
digest) out as a canary whose replicas serve it; `modelplane show` records it and the next plan has no
changes. A retrain whose blocking evaluation fails rolls nothing out: stable keeps serving."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.stacks.engine import trained_revision
from tests.integration.pipeline import Pipeline, copy_quickstart

pytestmark = pytest.mark.integration

QUICK_STEPS = """\
    steps:
      - {weight: 50, pause: 1s}
      - {weight: 100}
    analysis:
      window: 2s
      min_requests: 5
"""


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[Pipeline]:
    p = copy_quickstart(tmp_path)
    root = p.root
    # the quickstart's canary steps, shorter (three 10 s pauses and windows are for people watching)
    serving = root / "specs" / "serving.yaml"
    text = serving.read_text()
    start = text.index("    steps:\n")
    end = text.index("      min_requests: 20\n") + len("      min_requests: 20\n")
    serving.write_text(text[:start] + QUICK_STEPS + text[end:])
    try:
        yield p
    finally:
        p.stop()


def _flat(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


async def _record_histories(p: Pipeline) -> None:
    """The retrain's apply and its rollout, as tests/histories/ keeps them (replayed by tests/runtime/test_replay.py)."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from modelplane.runtime.temporal.workflows import rollout_workflow_id
    from tests.integration.test_workflows import save_history

    address = json.loads((p.root / ".modelplane" / "temporal.json").read_text())["address"]
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    parent = await client.get_workflow_handle("apply/quickstart/dev").fetch_history()
    save_history("apply-retrain-canary", parent)
    started = next(
        e.workflow_execution_started_event_attributes
        for e in parent.events
        if e.HasField("workflow_execution_started_event_attributes")
    )
    apply_id = json.loads(started.input.payloads[0].data)["apply_id"]
    child = client.get_workflow_handle(rollout_workflow_id(parent.workflow_id, apply_id, "endpoint/tiny-chat"))
    save_history("rollout-retrain-canary", await child.fetch_history())


def test_retrain_rolls_the_trained_artifact_out_as_a_canary(quickstart: Pipeline, update_goldens: bool) -> None:
    p = quickstart
    p.run("apply", "--auto-approve", check=True, timeout=180)
    [(first, _)] = p.registry("tiny-chat")["revisions"].items()

    p.edit("uri: file://data/support-pairs.jsonl", "uri: file://data/support-pairs-v2.jsonl", file="specs/data.yaml")
    plan = _flat(p.run("plan", check=True).stdout)
    said = "rolls out the artifact trained in this apply as a canary, gated by evaluation/tiny-chat-quality"
    assert f"rollout endpoint/tiny-chat ({said})" in plan, plan
    assert "retrain a stale model" not in plan, plan  # the apply retrains it: nobody is asked to
    planned = json.loads(p.run("plan", "--format", "json", check=True).stdout)
    rollout = next(a for a in planned["actions"] if a["id"] == "rollout:endpoint/tiny-chat")
    assert rollout["details"]["trained_by"] == "run-workflow:workflow/finetune-tiny-chat"
    assert "evaluate:evaluation/tiny-chat-quality" in rollout["depends_on"]

    out = p.run("apply", "--auto-approve", timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    model = json.loads(p.run("show", "model/tiny-chat", "-f", "json", check=True).stdout)
    digest = model["artifacts"][-1]["digest"]
    assert digest.startswith("sha256:") and model["artifacts"][-1]["version"] == "1.0.0"  # no version bump
    revision = trained_revision(first, digest)  # the quickstart's revision, serving the trained weights
    reg = p.registry("tiny-chat")
    assert reg["revisions"][revision]["role"] == "stable" and reg["revisions"][revision]["weight"] == 100
    assert reg["revisions"][revision]["artifact"] == digest
    assert first not in reg["revisions"]  # the old weights are torn down
    for replica in reg["revisions"][revision]["replicas"]:  # every replica serves the trained artifact
        with urllib.request.urlopen(f"http://127.0.0.1:{replica['port']}/v1/models", timeout=5) as resp:
            card = json.loads(resp.read())["data"][0]
        assert card["artifact"] == digest and card["root"].endswith("output"), card
    endpoint = json.loads(p.run("show", "endpoint/tiny-chat", "-f", "json", check=True).stdout)
    last = endpoint["rollouts"][-1]
    assert (last["revision"], last["previous"], last["artifact"], last["status"]) == (
        revision,
        first,
        digest,
        "succeeded",
    )
    assert next(v["weight"] for v in last["verdicts"] if v.get("gate") != "capacity") == 50  # a canary step
    assert f"trained {digest[:19]}" in p.run("show", "endpoint/tiny-chat", check=True).stdout
    assert "No changes" in p.run("plan", check=True).stdout
    if update_goldens:
        asyncio.run(_record_histories(p))

    # an in-place change afterwards keeps the trained weights' revision (the plan reads the registered digest)
    p.edit("    max_replicas: 4", "    max_replicas: 5", file="specs/serving.yaml")
    assert "(in place: no new replicas)" in _flat(p.run("plan", check=True).stdout)

    # a retrain whose blocking evaluation fails: nothing rolls out, the trained revision keeps serving
    p.edit("max_replicas: 5", "max_replicas: 4", file="specs/serving.yaml")
    evaluate = p.root / "scripts" / "evaluate.py"
    evaluate.write_text(evaluate.read_text().replace('"0.42"', '"0.10"'))
    p.edit("support-pairs-v2.jsonl", "support-pairs-v3.jsonl", file="specs/data.yaml")
    out = p.run("apply", "--auto-approve", timeout=240)
    assert out.returncode != 0
    assert "exact_match=0.1 below min 0.3" in _flat(out.stdout + out.stderr), out.stdout + out.stderr
    reg = p.registry("tiny-chat")
    assert list(reg["revisions"]) == [revision] and reg["revisions"][revision]["weight"] == 100
    plan = _flat(p.run("plan", check=True).stdout)
    assert "left over" in plan and "rollout endpoint/tiny-chat" in plan, plan  # still to do, not dropped
    planned = json.loads(p.run("plan", "--format", "json", check=True).stdout)
    rollout = next(a for a in planned["actions"] if a["id"] == "rollout:endpoint/tiny-chat")
    assert rollout["reason"].endswith("not yet serving"), rollout  # the registered artifact that did not go out
    assert "evaluate:evaluation/tiny-chat-quality" in rollout["depends_on"]  # still gated
