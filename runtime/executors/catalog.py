"""register and notify: effects inside modelplane's own state (the catalog and the notification log)."""

from __future__ import annotations

from typing import Any

from modelplane.runtime.executors import Context, Effect
from modelplane.runtime.state.ports import EffectWrites
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.runtime.typed import spec_of


async def register(ctx: Context, action: ActionSpec) -> Effect:
    assert action.node is not None
    version = getattr(spec_of(action.node), "version", None)  # typed: only some kinds have a version
    output: dict[str, Any] = {"registered": action.target, **({"version": str(version)} if version is not None else {})}
    data = action.node
    if ctx.trained and action.details.trained_by:
        # a retrain's artifact: the next plan's revisions serve it while the model's spec stays this one
        trained = {
            "digest": ctx.trained["digest"],
            "path": ctx.trained["path"],
            "model_spec": action.details.model_spec or "",  # computed by the plan (compiler.plan.artifacts)
            "run": action.details.trained_by,
        }
        output["artifact"] = ctx.trained["digest"]
        data = {**action.node, "trained": trained}
    return Effect(
        output=output,
        writes=EffectWrites(catalog=(action.target, None if version is None else str(version), data)),
    )


async def notify(ctx: Context, action: ActionSpec) -> Effect:
    owner = action.target_id.node.name
    services = list(action.details.services or [])
    message = f"{owner}: {action.reason}"
    return Effect(
        output={"owner": owner, "services": services, "message": message},
        writes=EffectWrites(
            notification=(owner, message, {"services": services, "tier": action.details.most_critical_tier})
        ),
    )
