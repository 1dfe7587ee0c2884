"""Dispatch of rollout steps (``serving_op``) to the stack's provisioner."""

from __future__ import annotations

from typing import Any

from modelplane.runtime.executors import ActionFailed, Context
from modelplane.runtime.messages import ServingOp


async def run_op(prov: Any, ctx: Context, op: ServingOp) -> dict[str, Any]:
    if not hasattr(prov, "start"):
        raise ActionFailed(f"{op.action.target}: this stack's provisioner cannot run canary rollouts")
    if op.op == "inspect":
        return prov.inspect(ctx, op.action)  # type: ignore[no-any-return]
    if op.op == "router":
        router = prov.ensure_router(ctx, op.action)
        return {"url": f"http://127.0.0.1:{router.port}", "pid": router.pid}
    if op.op == "start":
        return prov.start(ctx, op.action, op.revision, op.replicas)  # type: ignore[no-any-return]
    if op.op == "wait_ready":
        return await prov.wait_ready(ctx, op.action, op.revision)  # type: ignore[no-any-return]
    if op.op == "weights":
        return await prov.set_weights(ctx, op.action, op.weights)  # type: ignore[no-any-return]
    if op.op == "stats":
        return await prov.stats(ctx, op.action, op.window_s)  # type: ignore[no-any-return]
    if op.op == "promote":
        return await prov.promote(ctx, op.action, op.revision)  # type: ignore[no-any-return]
    if op.op == "teardown":
        return prov.teardown(ctx, op.action, op.revision)  # type: ignore[no-any-return]
    raise AssertionError(op.op)
