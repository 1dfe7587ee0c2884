"""Dispatch of rollout steps (``serving_op``) to the stack's provisioner (local processes or Pulumi)."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

from modelplane.runtime.executors import ActionFailed, Context
from modelplane.runtime.messages import ServingOp


async def run_op(prov: Any, ctx: Context, op: ServingOp) -> dict[str, Any]:
    if not hasattr(prov, "start"):
        raise ActionFailed(f"{op.action.target}: this stack's provisioner cannot run canary rollouts")
    a = op.action
    result: Any
    if op.op == "inspect":
        result = prov.inspect(ctx, a)
    elif op.op == "router":
        router = prov.ensure_router(ctx, a)
        result = {"url": router.url, "pid": router.pid}
    elif op.op == "start":
        result = prov.start(ctx, a, op.revision, op.replicas)
    elif op.op == "wait_ready":
        result = prov.wait_ready(ctx, a, op.revision)
    elif op.op == "weights":
        result = prov.set_weights(ctx, a, op.weights)
    elif op.op == "stats":
        result = prov.stats(ctx, a, op.window_s)
    elif op.op == "observe":
        if hasattr(prov, "observe"):
            result = prov.observe(ctx, a, op.window_s, op.need, op.synthesize, op.revisions)
        elif op.synthesize:
            raise ActionFailed(
                f"{a.target}: this stack's provisioner cannot generate synthetic traffic "
                "(rollout.analysis.when_idle: synthesize); use hold, fail or pass"
            )
        else:
            await wait_out(ctx, op.window_s)
            result = prov.stats(ctx, a, op.window_s)
    elif op.op == "promote":
        result = prov.promote(ctx, a, op.revision)
    elif op.op == "teardown":
        result = prov.teardown(ctx, a, op.revision)
    else:
        raise AssertionError(op.op)
    if inspect.isawaitable(result):  # local steps are partly synchronous, Pulumi's all awaitable
        result = await result
    data: dict[str, Any] = result
    return data


async def wait_out(ctx: Context, seconds: float) -> None:
    """Sleep out an analysis window, heartbeating (the stack gives no traffic of its own to wait on)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ctx.heartbeat({"window_left_s": round(left, 1)})
        await asyncio.sleep(min(1.0, left))
