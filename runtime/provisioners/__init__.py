"""provision and decommission (and the steps of rollouts): delegated to the provisioner of the target's stack.

Provisioners are chosen by the stack's ``provider``. ``PROVISIONERS`` maps a
provider to the module that implements it; one that is not there yet fails the
action with a clear, non-retryable error instead of pretending.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from modelplane.errors import ActionFailed
from modelplane.runtime.executors import Context, Effect
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.runtime.typed import spec_of
from modelplane.specs.providers import registry as providers

PROVISIONERS: dict[str, str] = {p: providers.get(p).provisioner for p in providers.names()}
"""provider -> module exposing ``provisioner()``: the local stack, and Pulumi for the cloud ones (each provider
names its provisioner in specs/providers/)."""


class Provisioner(Protocol):
    """What a stack's provider does: the plan's ``provision``/``decommission`` actions, and the steps of an
    endpoint's rollout (the EndpointRollout workflow drives them through ``executors.serving``).

    Every step is a coroutine: blocking work (files, processes, ``pulumi up``) runs on a thread, so an
    activity's heartbeats and the worker's other activities go on meanwhile. Steps return JSON.
    """

    async def provision(self, ctx: Context, action: ActionSpec) -> Effect: ...
    async def decommission(self, ctx: Context, action: ActionSpec) -> Effect: ...

    async def inspect(self, ctx: Context, action: ActionSpec) -> dict[str, Any]:
        """The endpoint's revisions as deployed: ``{"stable": name | None, "revisions": {name: role}}``."""
        ...

    async def ensure_router(self, ctx: Context, action: ActionSpec) -> dict[str, Any]:
        """The endpoint's router, started if needed: ``{"url": ..., "pid": ...}`` (pid 0 where it is not ours)."""
        ...

    async def start(self, ctx: Context, action: ActionSpec, revision: str, replicas: int) -> dict[str, Any]: ...
    async def wait_ready(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]: ...
    async def set_weights(self, ctx: Context, action: ActionSpec, weights: dict[str, int]) -> dict[str, Any]: ...
    async def stats(self, ctx: Context, action: ActionSpec, window_s: float) -> dict[str, Any]: ...

    async def observe(
        self, ctx: Context, action: ActionSpec, window_s: float, need: int, synthesize: bool, revisions: list[str]
    ) -> dict[str, Any]:
        """One analysis window, then its stats; ``synthesize``: top it up to ``need`` requests per revision."""
        ...

    async def promote(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]: ...
    async def teardown(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]: ...


def stack_of(action: ActionSpec) -> dict[str, Any]:
    stack = action.details.stack or ""
    doc = action.context.get(f"stack/{stack}") if stack else None
    if doc is None and action.node is not None and action.node.get("kind") == "Stack":
        doc = action.node
    if doc is None:
        raise ActionFailed(f"{action.id}: no stack document for `{stack or action.target}` in the apply input")
    return doc


def provisioner_for(action: ActionSpec) -> Provisioner:
    stack = stack_of(action)
    provider = spec_of(stack).provider  # typed: validated like the plan validated it
    module = PROVISIONERS.get(provider)
    if module is None:
        raise ActionFailed(
            f"stack/{stack['metadata']['name']} uses provider `{provider}`, and this version of "
            f"modelplane has no provisioner for it yet, so nothing was {action.type}ed",
            {"provider": provider},
            hint="apply the actions that do not need a stack (register, run-workflow, evaluate) now; "
            "the local and Pulumi provisioners arrive with their own releases",
        )
    prov: Provisioner = importlib.import_module(module).provisioner()
    return prov


async def provision(ctx: Context, action: ActionSpec) -> Effect:
    return await provisioner_for(action).provision(ctx, action)


async def decommission(ctx: Context, action: ActionSpec) -> Effect:
    return await provisioner_for(action).decommission(ctx, action)
