"""Dispatch of rollout steps (``serving_op``) to the stack's provisioner (local processes or Pulumi).

The activity's input names its step (``ServingOp.op``: the name recorded in workflow histories, so it
stays a string); ``STEPS`` maps each name to the ``Provisioner`` method it calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from modelplane.runtime.executors import Context
from modelplane.runtime.provisioners import Provisioner
from modelplane.runtime.temporal.messages import ServingOp

Step = Callable[[Provisioner, Context, ServingOp], Awaitable[dict[str, Any]]]

STEPS: dict[str, Step] = {
    "inspect": lambda p, ctx, op: p.inspect(ctx, op.action),
    "router": lambda p, ctx, op: p.ensure_router(ctx, op.action),
    "start": lambda p, ctx, op: p.start(ctx, op.action, op.revision, op.replicas),
    "wait_ready": lambda p, ctx, op: p.wait_ready(ctx, op.action, op.revision),
    "weights": lambda p, ctx, op: p.set_weights(ctx, op.action, op.weights),
    "stats": lambda p, ctx, op: p.stats(ctx, op.action, op.window_s),
    "observe": lambda p, ctx, op: p.observe(ctx, op.action, op.window_s, op.need, op.synthesize, op.revisions),
    "promote": lambda p, ctx, op: p.promote(ctx, op.action, op.revision),
    "teardown": lambda p, ctx, op: p.teardown(ctx, op.action, op.revision),
}


async def run_op(prov: Provisioner, ctx: Context, op: ServingOp) -> dict[str, Any]:
    return await STEPS[op.op](prov, ctx, op)


async def wait_out(ctx: Context, seconds: float) -> None:
    """Sleep out an analysis window, heartbeating (the stack gives no traffic of its own to wait on)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ctx.heartbeat({"window_left_s": round(left, 1)})
        await asyncio.sleep(min(1.0, left))
