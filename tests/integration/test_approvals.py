"""Issue 16: an environment's approval policy holds an apply until the owners it names approve that plan."""

from __future__ import annotations

import re

import pytest

from modelplane.runtime.identity import os_user
from modelplane.runtime.state.sqlite import StateStore
from tests.integration.pipeline import PROJECT, Pipeline

pytestmark = pytest.mark.integration


def test_a_retrain_waits_for_its_owners_approval_and_records_who_approved(pipeline: Pipeline) -> None:
    pipeline.run("apply", "--auto-approve", check=True)
    me = os_user()  # who may approve: the OS user this test runs as (issue 30: never $USER)
    (pipeline.root / "modelplane.yaml").write_text(
        PROJECT.replace(
            "  dev: {}",
            f"  dev:\n    approvals: {{require: [retrain-required], approvers: {{team-ml: [{me}], team-data: [{me}]}}}}",
        )
    )
    pipeline.edit('version: "1"', 'version: "2"')  # the raw data changes: the model must retrain
    before = len(pipeline.effects())

    held = pipeline.run("apply", "--auto-approve")
    said = held.stdout + held.stderr
    assert held.returncode == 1, said
    assert "dev requires the owners' approval for retrain-required" in said, said
    assert "team-ml (retrain-required: model/chat, retrain-required: workflow/train)" in said, said
    assert "team-data (retrain-required: workflow/prep)" in said, said
    plan_id = re.search(r"plan ([0-9a-f]{20}) still needs", said)
    assert plan_id, said
    assert len(pipeline.effects()) == before  # nothing ran
    # `plan` said so before apply did: the same plan id, and who must approve it (issue 33)
    planned = pipeline.run("plan").stdout
    assert f"Plan id: {plan_id[1]} " in planned, planned
    assert "Approvals: dev requires owners team-data, team-ml to approve before apply" in planned, planned
    assert f"`modelplane approve --plan {plan_id[1]} --owner OWNER --env dev`" in planned

    ok = pipeline.run("approve", "--plan", plan_id[1], "--owner", "team-ml", check=True).stdout
    assert f"approved plan {plan_id[1]} on dev for team-ml" in ok
    still = pipeline.run("apply", "--auto-approve")
    assert still.returncode == 1 and "team-data" in still.stderr and "team-ml (" not in still.stderr, still.stderr

    pipeline.run("approve", "--plan", plan_id[1], "--owner", "team-data", check=True)
    done = pipeline.run("apply", "--auto-approve", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "approved for team-ml by" in done.stderr and "approved for team-data by" in done.stderr
    assert pipeline.count("train", "done") == 1

    store = StateStore(pipeline.root / ".modelplane" / "state.db")
    approvals = [e for e in store.audit("dev") if e.action == "approve"]
    assert [(e.detail["owner"], e.detail["plan_id"]) for e in approvals] == [
        ("team-ml", plan_id[1]),
        ("team-data", plan_id[1]),
    ]
    assert all("@" in e.who for e in approvals)  # who approved: user@host
