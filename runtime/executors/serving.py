"""The rollout steps on the stack's provisioner (local processes or Pulumi): one function per step.

Each ``rollout_<step>`` activity calls one of these with its own typed input (``STEPS``). ``run_op`` serves
``serving_op``, the single activity of rollouts recorded before the typed steps (its step named in
``ServingOp.op``): it reads the same step's input out of the old message and calls the same function,
so a rollout started by an earlier build finishes the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from modelplane.runtime.executors import Context
from modelplane.runtime.provisioners import Provisioner
from modelplane.runtime.temporal.messages import (
    ObserveWindow,
    RevisionStep,
    RolloutStep,
    ServingOp,
    SetWeights,
    StartRevision,
)

Data = dict[str, Any]


async def inspect(p: Provisioner, ctx: Context, inp: RolloutStep) -> Data:
    return await p.inspect(ctx, inp.action)


async def router(p: Provisioner, ctx: Context, inp: RolloutStep) -> Data:
    return await p.ensure_router(ctx, inp.action)


async def start(p: Provisioner, ctx: Context, inp: StartRevision) -> Data:
    return await p.start(ctx, inp.action, inp.revision, inp.replicas)


async def wait_ready(p: Provisioner, ctx: Context, inp: RevisionStep) -> Data:
    return await p.wait_ready(ctx, inp.action, inp.revision)


async def weights(p: Provisioner, ctx: Context, inp: SetWeights) -> Data:
    return await p.set_weights(ctx, inp.action, inp.weights)


async def observe(p: Provisioner, ctx: Context, inp: ObserveWindow) -> Data:
    return await p.observe(ctx, inp.action, inp.window_s, inp.need, inp.synthesize, inp.revisions)


async def promote(p: Provisioner, ctx: Context, inp: RevisionStep) -> Data:
    return await p.promote(ctx, inp.action, inp.revision)


async def teardown(p: Provisioner, ctx: Context, inp: RevisionStep) -> Data:
    return await p.teardown(ctx, inp.action, inp.revision)


STEPS: dict[str, tuple[Callable[[Provisioner, Context, Any], Awaitable[Data]], type[RolloutStep]]] = {
    "inspect": (inspect, RolloutStep),
    "router": (router, RolloutStep),
    "start": (start, StartRevision),
    "wait_ready": (wait_ready, RevisionStep),
    "weights": (weights, SetWeights),
    "observe": (observe, ObserveWindow),
    "promote": (promote, RevisionStep),
    "teardown": (teardown, RevisionStep),
}
"""Each step -> its function and its typed input. The worker registers ``rollout_<step>`` for each
(``Activities.all``); ``ServingOp.op`` names one of them (the old message holds every step's fields)."""


async def run_op(prov: Provisioner, ctx: Context, op: ServingOp) -> Data:
    step, takes = STEPS[op.op]
    return await step(prov, ctx, op.step_input(takes))


async def wait_out(ctx: Context, seconds: float) -> None:
    """Sleep out an analysis window, heartbeating (the stack gives no traffic of its own to wait on)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ctx.heartbeat({"window_left_s": round(left, 1)})
        await asyncio.sleep(min(1.0, left))
