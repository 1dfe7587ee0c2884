"""The activities as the workflows call them: each one's name, input and result, and nothing else.

Workflows pass these functions to ``workflow.execute_activity`` (typed: the result type comes from the
annotation, a wrong input is a mypy error), never a name as a string. Their bodies never run: the
worker registers ``runtime.activities.Activities``, whose methods carry the same names and types
(``tests/runtime/test_activity_defs.py`` checks they agree). This module is light on purpose: the
workflow sandbox imports it, and it must not pull in the state stores, HTTP clients or processes
the real activities use.
"""

from __future__ import annotations

from typing import NoReturn

from modelplane.runtime.messages import (
    ActionInput,
    ActionOutput,
    HistoryInput,
    PreflightInput,
    PreflightProblem,
    RecordInput,
    ServingOp,
    ServingResult,
)
from temporalio import activity


def _runs_on_the_worker(name: str) -> NoReturn:
    raise RuntimeError(f"the `{name}` activity runs on a worker (runtime.activities.Activities), not here")


@activity.defn(name="execute_action")
async def execute_action(inp: ActionInput) -> ActionOutput:
    """One plan action, exactly once (the ledger)."""
    _runs_on_the_worker("execute_action")


@activity.defn(name="serving_op")
async def serving_op(inp: ServingOp) -> ServingResult:
    """One step of an endpoint's rollout on its stack's provisioner."""
    _runs_on_the_worker("serving_op")


@activity.defn(name="record_state")
async def record_state(inp: RecordInput) -> int:
    """What finished, and the nodes it made true, into the state store; returns the new serial."""
    _runs_on_the_worker("record_state")


@activity.defn(name="record_history")
async def record_history(inp: HistoryInput) -> None:
    _runs_on_the_worker("record_history")


@activity.defn(name="preflight")
async def preflight(inp: PreflightInput) -> list[PreflightProblem]:
    """Every prerequisite the plan's provisioners need, checked before any effect."""
    _runs_on_the_worker("preflight")
