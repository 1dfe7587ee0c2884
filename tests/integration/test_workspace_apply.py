"""``Workspace.apply`` from Python, against a real embedded Temporal server and worker: the same use case as
``modelplane apply``, with a handle to wait on, and hooks where the CLI prints and asks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelplane.compiler.plan.model import Plan
from modelplane.runtime.apply import ApplyHooks, ApplyOptions
from modelplane.workspace import Workspace
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration


def test_the_workspace_applies_the_plan_it_shows_and_hands_back_a_handle(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_WORKER_IDLE_EXIT", "60")  # as the pipeline's CLI runs have it
    ws = Workspace(pipeline.root)
    shown: list[Plan] = []
    notes: list[str] = []

    async def go() -> tuple[Any, ...]:
        declined = await ws.apply(hooks=ApplyHooks(show_plan=shown.append, confirm=lambda plan: False))
        options = ApplyOptions(auto_approve=True)
        started = await ws.apply(options=options, hooks=ApplyHooks(show_plan=shown.append, note=notes.append))
        assert started.handle is not None
        outcome = await started.handle.result()
        progress = await started.handle.progress()
        after = await ws.running()
        return declined, started, outcome, progress, after

    try:
        declined, started, outcome, progress, after = asyncio.run(go())
        nothing = asyncio.run(ws.apply())
    finally:  # asyncio.run leaves no current loop; later tests (pulumi's mocks) set their own
        asyncio.set_event_loop(asyncio.new_event_loop())

    # not confirmed: nothing ran and nothing was recorded
    assert declined.cancelled and declined.handle is None
    # confirmed: the plan shown is the plan started, and it ran as the CLI's apply does
    assert started.plan is not None and [p.id for p in shown] == [started.plan.id, started.plan.id]
    assert not started.handle.reattached and started.handle.apply_id == outcome.apply_id
    assert outcome.state == "succeeded" and progress.state == "succeeded"
    assert progress.plan_id == started.plan.id
    assert sorted(outcome.actions) == sorted(a.id for a in started.plan.actions)
    assert pipeline.count("eval", "done") == 1
    assert [h.outcome for h in ws.history()] == ["succeeded"]  # one apply: the declined one left no entry
    assert after is None  # nothing runs once it has ended
    # applied: a second apply has nothing to do, and says so by starting nothing
    assert nothing.handle is None and not nothing.cancelled
    assert nothing.plan is not None and not nothing.plan.actions
