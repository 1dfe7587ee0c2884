"""What ``plan`` says beside the plan itself: its id, and the owners the environment's approval policy asks
to approve it before apply (``approvals.require`` in modelplane.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelplane.compiler.plan.model import ApprovalPolicy, approvals_needed

if TYPE_CHECKING:
    from modelplane.compiler.compile import PlanResult
    from modelplane.specs.project import Approvals


@dataclass
class PlanNotes:
    id: str
    """The id ``plan --out`` saves the plan under and ``approve --plan`` names (its content: equal plans, equal ids)."""
    environment: str
    against_state: bool
    """False for a plan against a git ref (for review): the plan to approve is the one against the applied state."""
    approvals: dict[str, list[str]] = field(default_factory=dict)
    """Owner -> what of theirs needs their approval (``class: node``) under the environment's policy."""


def policy_for(declared: Approvals | None) -> ApprovalPolicy:
    """An environment's ``approvals:`` as a plan carries it (sealed with it: apply obeys that copy)."""
    if declared is None:
        return ApprovalPolicy()
    return ApprovalPolicy(require=list(declared.require), approvers={o: list(w) for o, w in declared.approvers.items()})


def plan_notes(result: PlanResult) -> PlanNotes:
    """The plan's id as ``plan --out`` saves it (a plan against the applied state carries its environment's policy:
    the seal itself is no part of the id) and the owners whose approval that policy requires of it."""
    from modelplane.compiler.plan.execution import executable

    specs = result.head.specs
    environment = specs.project.environments.get(specs.environment)
    policy = policy_for(environment.approvals if environment is not None else None)
    saved = executable(result.plan, result.head.graph, result.base)
    against_state = saved.base.kind == "state"
    if against_state and saved.execution is not None:  # as runtime.apply.seal_plan adds it
        saved = saved.model_copy(update={"execution": saved.execution.model_copy(update={"approvals": policy})})
    return PlanNotes(saved.id, specs.environment, against_state, approvals_needed(result.plan, policy.require))
