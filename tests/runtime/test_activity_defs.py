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
            "serving_op",
            "record_state",
            "record_history",
            "preflight",
        }
    )
    for name, stub in called.items():
        want, got = typing.get_type_hints(stub), typing.get_type_hints(registered[name])
        assert want == got, f"{name}: the workflows call it with {want}, the worker runs {got}"


async def test_a_stub_body_never_stands_in_for_the_activity() -> None:
    with pytest.raises(RuntimeError, match="runs on a worker"):
        await defs.record_history(None)  # type: ignore[arg-type]
