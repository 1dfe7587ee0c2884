"""Approving: an owner's approval of a plan (kept in the state store), or a running apply's rollouts waiting
at a manual gate (an update to its workflow). ``Workspace.approve_plan`` and ``approve_gate`` call these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.errors import ModelplaneError
from modelplane.runtime.settings import Settings
from modelplane.runtime.state import Store


@dataclass
class PlanApproval:
    """An owner's approval of a plan, as ``approve --plan --owner`` recorded it."""

    plan_id: str
    environment: str
    owner: str
    who: str
    via: str
    approves: list[str]


def approve_plan(s: Settings, store: Store, plan: str, owner: str) -> PlanApproval:
    """Record ``owner``'s approval of a plan (a file from ``plan --out``, or the id of the working tree's plan
    now) where every checkout and CI read it; the approver is checked against the plan's own sealed policy
    (``approvals.check_approver``)."""
    from modelplane.runtime import approvals, identity
    from modelplane.runtime.apply import check_seal, fresh_plan, load_plan_file

    if Path(plan).exists():
        saved = load_plan_file(Path(plan))
        check_seal(saved, plan, store)
    else:
        saved = fresh_plan(s, store)
        if saved.id != plan:
            raise ModelplaneError(
                f"plan {plan} is not the plan of the working tree against the applied state of "
                f"{s.environment} (that is {saved.id})",
                hint="approve the plan file itself (`modelplane approve --plan FILE --owner OWNER`), "
                "or check out what the plan was made from",
            )
    me = identity.current(s.root)
    items = approvals.check_approver(saved, owner, me)
    approvals.record(store, s.environment, saved.id, owner, me, items)
    return PlanApproval(saved.id, s.environment, owner, me.who, me.via, items)


async def approve_gates(workflow: Any, target: str | None) -> list[str]:
    """Approve the rollouts of the running apply (``workflow``: its Temporal handle) waiting at a manual gate:
    ``target``'s (an endpoint's name or id), or every waiting one; the targets approved."""
    from temporalio.client import WorkflowUpdateFailedError

    from modelplane.runtime.apply import requested_by
    from modelplane.runtime.temporal.messages import Approval
    from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow

    name = None if target is None else target if "/" in target else f"endpoint/{target}"
    try:
        done: list[str] = await workflow.execute_update(
            ApplyPlanWorkflow.approve, Approval(target=name, by=requested_by())
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise ModelplaneError(f"not approved: {getattr(cause, 'message', cause)}") from None
    return done
