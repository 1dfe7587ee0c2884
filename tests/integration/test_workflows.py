"""The ApplyPlan workflow in process, against a real dev server: parallelism, pause, continue-as-new, abort.

Each scenario's event history is what ``tests/histories/`` holds (``--update-goldens``
rewrites them); ``test_replay.py`` replays those files against the current code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from modelplane.runtime import trust
from modelplane.runtime.apply import apply_input, fresh_plan
from modelplane.runtime.settings import Settings, open_store, settings_for
from modelplane.runtime.temporal.messages import ApplyInput, ApplyOutcome
from modelplane.runtime.temporal.server import temporal_binary
from modelplane.runtime.temporal.worker import build_worker
from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow
from tests.integration.pipeline import Pipeline, make_pipeline

pytestmark = pytest.mark.integration
HISTORIES = Path(__file__).resolve().parents[1] / "histories"


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[Client]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter, ui=False
    ) as env:
        yield env.client


def _settings(p: Pipeline) -> Settings:
    s = settings_for(p.root, "dev")
    return dataclasses.replace(s, temporal=s.temporal.model_copy(update={"task_queue": f"tq-{uuid.uuid4()}"}))


def _input(s: Settings, **update: Any) -> ApplyInput:
    store = open_store(s.root, s.state)
    plan = fresh_plan(s, store)
    # signed after the test's changes, as `apply` signs what it starts (the worker runs only signed inputs)
    return trust.sign_input(store.mac_key(), apply_input(plan, s, 8, True).model_copy(update=update))


def save_history(name: str, history: Any) -> None:
    """With its workflow id: child workflow ids derive from it, so a replay needs the real one."""
    doc = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
    (HISTORIES / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")


async def _run(
    client: Client, s: Settings, inp: ApplyInput, name: str, record: bool, during: Any = None
) -> tuple[ApplyOutcome, Any]:
    async with build_worker(client, s, workflow_failure_exception_types=[Exception]):
        handle = await client.start_workflow(
            "ApplyPlan",
            inp,
            id=f"{s.workflow_id}/{uuid.uuid4()}",
            task_queue=s.temporal.task_queue,
            result_type=ApplyOutcome,
        )
        if during is not None:
            await during(handle)
        outcome = await handle.result()
        history = await handle.fetch_history()
    if record:
        HISTORIES.mkdir(exist_ok=True)
        save_history(name, history)
    return outcome, history


async def test_parallel_branches_respect_the_bound_and_dependencies(
    temporal: Client, tmp_path: Path, update_goldens: bool
) -> None:
    p = make_pipeline(tmp_path / "p")
    s = _settings(p)
    outcome, _ = await _run(temporal, s, _input(s, parallelism=2), "apply-succeeded", update_goldens)
    assert outcome.state == "succeeded"
    spans = sorted((r.started_at, r.finished_at) for r in outcome.actions.values())
    for start, _ in spans:  # never more than 2 actions in flight
        assert sum(1 for a, b in spans if a is not None and b is not None and a <= start < b) <= 2
    evaluate = outcome.actions["evaluate:evaluation/chat-quality"]
    for dep in ("register:model/chat", "register:evaluation/chat-quality"):
        assert outcome.actions[dep].finished_at <= evaluate.started_at  # type: ignore[operator]


async def test_failure_skips_dependents_and_independent_branches_finish(
    temporal: Client, tmp_path: Path, update_goldens: bool
) -> None:
    p = make_pipeline(tmp_path / "p", serving=True)
    p.metrics(accuracy=0.1)
    s = _settings(p)
    try:
        outcome, _ = await _run(temporal, s, _input(s), "apply-failed", update_goldens)
    finally:
        p.stop()  # the endpoint's router was provisioned
    assert outcome.state == "failed"
    states = {a: r.state for a, r in outcome.actions.items()}
    assert states["evaluate:evaluation/chat-quality"] == "failed"
    assert states["rollout:endpoint/chat"] == "skipped"
    assert states["register:dataset/raw"] == states["register:service/helpdesk"] == "succeeded"
    assert outcome.actions["evaluate:evaluation/chat-quality"].output["metrics"] == {"accuracy": 0.1}


async def test_continue_as_new_carries_results(temporal: Client, tmp_path: Path, update_goldens: bool) -> None:
    p = make_pipeline(tmp_path / "p")
    s = _settings(p)
    inp = _input(s, history_limit=20, parallelism=1)
    outcome, history = await _run(temporal, s, inp, "apply-continued-as-new", update_goldens)
    # the history of the last run: it was continued from an earlier one
    assert history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    assert outcome.state == "succeeded"
    assert all(r.state == "succeeded" for r in outcome.actions.values())
    assert len(outcome.actions) == len(inp.actions)
    store = open_store(s.root, s.state)
    assert len([e for e in store.ledger("dev") if e.status == "done"]) == len(inp.actions)  # none ran twice
    assert len(store.history("dev")) == 1  # one apply, though several runs


async def test_pause_holds_new_actions_and_abort_skips_the_rest(
    temporal: Client, tmp_path: Path, update_goldens: bool
) -> None:
    p = make_pipeline(tmp_path / "p")
    s = _settings(p)

    async def pause_then_abort(handle: Any) -> None:
        await handle.signal(ApplyPlanWorkflow.pause)  # by method reference: the name stays the method's
        await asyncio.sleep(1.0)
        progress = await handle.query(ApplyPlanWorkflow.progress)
        assert progress.state == "paused"
        started = [a for a, r in progress.actions.items() if r.state != "pending"]
        assert len(started) <= 8  # at most the first wave, nothing after the pause
        await handle.signal(ApplyPlanWorkflow.abort, "changed my mind")

    outcome, _ = await _run(temporal, s, _input(s, parallelism=1), "apply-aborted", update_goldens, pause_then_abort)
    assert outcome.state == "aborted"
    skipped = [r for r in outcome.actions.values() if r.state == "skipped"]
    assert skipped and all("changed my mind" in (r.error or "") for r in skipped)
    pending = open_store(s.root, s.state).applied("dev").pending
    assert set(pending) == {a for a, r in outcome.actions.items() if r.state == "skipped"}


async def test_rollouts_first_deploy_then_inconclusive_canary_rolls_back(
    temporal: Client, tmp_path: Path, update_goldens: bool
) -> None:
    """No traffic during the canary and ``when_idle: fail``: the window is inconclusive, the canary rolled back."""
    from modelplane.runtime.temporal.workflows import rollout_workflow_id

    p = make_pipeline(tmp_path / "p", serving=True)
    p.edit("inconclusive_limit: 3}", "inconclusive_limit: 1, when_idle: fail}", file="specs/serving.yaml")
    try:
        s = _settings(p)
        first, _ = await _run(temporal, s, _input(s), "apply-first-deploy", update_goldens)
        assert first.state == "succeeded"
        assert first.actions["rollout:endpoint/chat"].output["first"] is True
        p.edit('version: "1.0.0"', 'version: "1.1.0"')
        inp = _input(s)
        outcome, history = await _run(temporal, s, inp, "apply-canary-parent", update_goldens)
        assert outcome.state == "failed"
        error = outcome.actions["rollout:endpoint/chat"].error or ""
        assert "rolled back endpoint/chat" in error
        assert "inconclusive after 2 window(s): 0 canary requests in the window, need 5" in error
        assert "(analysis.when_idle: fail)" in error
        parent_id = history.workflow_id
        child = temporal.get_workflow_handle(rollout_workflow_id(parent_id, inp.apply_id, "endpoint/chat"))
        child_history = await child.fetch_history()
        steps = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in child_history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        # one typed activity per step; `serving_op` only serves rollouts an earlier build started
        assert "serving_op" not in steps
        assert steps[:4] == ["rollout_inspect", "rollout_router", "rollout_start", "rollout_wait_ready"]
        assert steps.count("rollout_observe") == 2 and steps[-2:] == ["rollout_weights", "rollout_teardown"]
        if update_goldens:
            save_history("rollout-rolled-back", child_history)
        (stable,) = p.registry()["revisions"].values()
        assert stable["role"] == "stable" and stable["model"] == "chat@1.0.0"
    finally:
        p.stop()
