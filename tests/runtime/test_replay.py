"""Recorded workflow histories replay against the current workflow code without nondeterminism errors.

The histories in tests/histories/ are written by tests/integration/test_workflows.py
with --update-goldens. A change to the workflows that would break running applies
fails here; guard it with ``workflow.patched`` and record new histories.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow, EndpointRolloutWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    names = {p.stem for p in HISTORIES}
    assert {
        "apply-succeeded",
        "apply-failed",
        "apply-continued-as-new",
        "apply-aborted",
        "rollout-rolled-back",
        # recorded when every rollout step was the one `serving_op`: rollouts started then replay through
        # workflow.patched("typed-rollout-steps")
        "rollout-rolled-back-serving-op",
        # recorded before the preflight activity existed: applies running then replay through workflow.patched
        "apply-succeeded-before-preflight",
        # a retrain's apply passing the trained artifact on, and its rollout's revision covering the digest
        # (workflow.patched("trained-artifact")): tests/integration/test_retrain_rollout.py
        "apply-retrain-canary",
        "rollout-retrain-canary",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[ApplyPlanWorkflow, EndpointRolloutWorkflow], data_converter=pydantic_data_converter)
    doc = json.loads(path.read_text())
    result = await replayer.replay_workflow(WorkflowHistory.from_json(doc["workflow_id"], doc["history"]))
    assert result.replay_failure is None
