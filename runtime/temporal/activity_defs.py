"""The activities as the workflows call them: each one's name, input and result, and nothing else.

Workflows pass these functions to ``workflow.execute_activity`` (typed: the result type comes from the
annotation, a wrong input is a mypy error), never a name as a string. Their bodies never run: the
worker registers ``runtime.activities.Activities``, whose methods carry the same names and types
(``tests/runtime/test_activity_defs.py`` checks they agree). This module is light on purpose: the
workflow sandbox imports it, and it must not pull in the state stores, HTTP clients or processes
the real activities use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import activity

from modelplane.runtime.temporal import messages as m

In = TypeVar("In")
Out = TypeVar("Out")


def _declared(name: str, takes: type[In], returns: Any, doc: str) -> Callable[[In], Awaitable[Out]]:
    """An activity's declaration: its name and types for the SDK (which reads the annotations)."""

    async def declared(inp: In) -> Out:
        raise RuntimeError(f"the `{name}` activity runs on a worker (runtime.activities.Activities), not here")

    declared.__name__ = declared.__qualname__ = name
    declared.__doc__ = doc
    declared.__annotations__ = {"inp": takes, "return": returns}
    return activity.defn(name=name)(declared)


execute_action: Callable[[m.ActionInput], Awaitable[m.ActionOutput]] = _declared(
    "execute_action", m.ActionInput, m.ActionOutput, "One plan action, exactly once (the ledger)."
)
serving_op: Callable[[m.ServingOp], Awaitable[m.ServingResult]] = _declared(
    "serving_op",
    m.ServingOp,
    m.ServingResult,
    "A rollout step as rollouts recorded before the typed steps call it (the step named in `op`).",
)
record_state: Callable[[m.RecordInput], Awaitable[int]] = _declared(
    "record_state", m.RecordInput, int, "What finished, and the nodes it made true, into the state store."
)
record_history: Callable[[m.HistoryInput], Awaitable[None]] = _declared(
    "record_history", m.HistoryInput, None, "An apply's start or end in the environment's history."
)
preflight: Callable[[m.PreflightInput], Awaitable[list[m.PreflightProblem]]] = _declared(
    "preflight", m.PreflightInput, list[m.PreflightProblem], "Every prerequisite of the plan, before any effect."
)


def _step(op: str, takes: type[In], doc: str) -> Callable[[In], Awaitable[m.ServingResult]]:
    """A rollout step's activity, ``rollout_<op>`` (its body: ``runtime.executors.serving``)."""
    return _declared(f"rollout_{op}", takes, m.ServingResult, doc)


rollout_inspect = _step("inspect", m.RolloutStep, "The endpoint's revisions as its stack runs them, the stable one.")
rollout_router = _step("router", m.RolloutStep, "The endpoint's router, started where it is not running.")
rollout_start = _step("start", m.StartRevision, "A revision's replicas, started or scaled.")
rollout_wait_ready = _step("wait_ready", m.RevisionStep, "Until every replica of a revision is ready.")
rollout_weights = _step("weights", m.SetWeights, "The router's split between revisions.")
rollout_observe = _step("observe", m.ObserveWindow, "One analysis window of each revision's figures.")
rollout_promote = _step("promote", m.RevisionStep, "A revision made the stable one, the others retired.")
rollout_teardown = _step("teardown", m.RevisionStep, "A revision's replicas stopped (a rollback's last step).")
