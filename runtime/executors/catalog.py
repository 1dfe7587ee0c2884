"""register and notify: effects inside modelplane's own state (the catalog and the notification log)."""

from __future__ import annotations

from modelplane.runtime.executors import Context, Effect
from modelplane.runtime.state.ports import EffectWrites
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.runtime.typed import spec_of


async def register(ctx: Context, action: ActionSpec) -> Effect:
    assert action.node is not None
    version = getattr(spec_of(action.node), "version", None)  # typed: only some kinds have a version
    return Effect(
        output={"registered": action.target, **({"version": str(version)} if version is not None else {})},
        writes=EffectWrites(catalog=(action.target, None if version is None else str(version), action.node)),
    )


async def notify(ctx: Context, action: ActionSpec) -> Effect:
    owner = action.target_id.node.name
    services = list(action.details.get("services", []))
    message = f"{owner}: {action.reason}"
    return Effect(
        output={"owner": owner, "services": services, "message": message},
        writes=EffectWrites(
            notification=(owner, message, {"services": services, "tier": action.details.get("most_critical_tier")})
        ),
    )
