"""The activities the workflows call (``runtime.activity_defs``) are the ones the worker registers."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import pytest
from temporalio import activity

from modelplane.runtime.temporal import activity_defs as defs
from modelplane.runtime.temporal.activities import Activities


def _name(fn: typing.Callable[..., typing.Any]) -> str:
    found = activity._Definition.from_callable(fn)  # the SDK's own reading of @activity.defn
    assert found is not None, fn
    return found.name


def test_every_activity_called_is_registered_with_the_same_types(tmp_path: Path) -> None:
    called = {_name(f): f for _, f in inspect.getmembers(defs, inspect.iscoroutinefunction)}
    registered = {_name(f): f for f in Activities(tmp_path, None).all()}  # type: ignore[arg-type]
    assert (
        called.keys()
        == registered.keys()
        == {
            "execute_action",
            "record_state",
            "record_history",
            "preflight",
            # one per rollout step, each with its own input
            "rollout_inspect",
            "rollout_router",
            "rollout_start",
            "rollout_wait_ready",
            "rollout_weights",
            "rollout_observe",
            "rollout_promote",
            "rollout_teardown",
            # the one step activity of rollouts recorded before the typed steps, kept for them
            "serving_op",
        }
    )
    for name, stub in called.items():
        want, got = typing.get_type_hints(stub), typing.get_type_hints(registered[name])
        assert want == got, f"{name}: the workflows call it with {want}, the worker runs {got}"


async def test_a_stub_body_never_stands_in_for_the_activity() -> None:
    with pytest.raises(RuntimeError, match="runs on a worker"):
        await defs.record_history(None)  # type: ignore[arg-type]


def test_every_typed_step_is_one_old_serving_op_and_back() -> None:
    """A rollout an earlier build started runs its steps as `serving_op` (the step in `op`): each typed step's
    input fits the old message, the old activity finds the same step, and reads back the same input."""
    from modelplane.runtime.executors import serving
    from modelplane.runtime.temporal.messages import ActionSpec, ServingOp

    steps = {_name(f) for _, f in inspect.getmembers(defs, inspect.iscoroutinefunction)}
    ops = {name.removeprefix("rollout_") for name in steps if name.startswith("rollout_")}
    assert ops == serving.STEPS.keys()
    base = {
        "key": "wf/plan/rollout:endpoint/chat",
        "apply_id": "a1",
        "environment": "dev",
        "action": ActionSpec.model_validate(
            {"id": "rollout:endpoint/chat", "type": "rollout", "target": "endpoint/chat"}
        ),
    }
    fields = {"revision": "r2", "replicas": 3, "weights": {"r1": 90, "r2": 10}, "window_s": 5.0, "need": 40,
              "synthesize": True, "revisions": ["r2", "r1"]}  # fmt: skip
    for op, (step, takes) in serving.STEPS.items():
        typed = takes.model_validate({**base, **{k: v for k, v in fields.items() if k in takes.model_fields}})
        old = ServingOp.of(op, typed)
        assert old.op == op and step.__name__ == op
        assert old.step_input(takes) == typed, op
