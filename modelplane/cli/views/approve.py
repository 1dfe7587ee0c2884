"""How ``approve`` reports what it approved: a plan for an owner, or rollouts waiting at a manual gate."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown, as_json

if TYPE_CHECKING:
    from modelplane.runtime.approve import PlanApproval


def plan_approval_view(done: PlanApproval, fmt: Format) -> Shown:
    if fmt == Format.json:
        return Shown(as_json({"approved": "plan", **asdict(done)}))
    return Shown(
        f"approved plan {done.plan_id} on {done.environment} for {done.owner} (by {done.who}, identified by "
        f"{done.via})\n"
    )


def gates_approval_view(targets: list[str], environment: str, fmt: Format) -> Shown:
    if fmt == Format.json:
        return Shown(as_json({"approved": "gates", "environment": environment, "targets": targets}))
    return Shown(f"approved: {', '.join(targets)}\n")
