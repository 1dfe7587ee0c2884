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
    """What a plan's report adds beyond the plan: the id it is saved under and the approvals it needs."""

    id: str | None
    """The id ``plan --out`` saves the plan under and ``approve --plan`` and ``apply`` name (its content: equal
    plans, equal ids); None for a plan against a git ref (a review: the plan approved and applied is the one
    against the applied state, with an id of its own)."""
    environment: str
    approvals: dict[str, list[str]] = field(default_factory=dict)
    """Owner -> what of theirs needs their approval (``class: node``) under the environment's policy."""


def policy_for(declared: Approvals | None) -> ApprovalPolicy:
    """An environment's ``approvals:`` as a plan carries it (sealed with it: apply obeys that copy)."""
    if declared is None:
        return ApprovalPolicy()
    return ApprovalPolicy(require=list(declared.require), approvers={o: list(w) for o, w in declared.approvers.items()})


def plan_notes(result: PlanResult) -> PlanNotes:
    """The id of a plan against the applied state as ``plan --out`` saves it (with its environment's policy; the
    seal itself is no part of the id) and the owners whose approval that policy requires of it.

    The id needs the executable plan (what apply carries out): about a quarter of a 2,000-node all-create
    plan's time, so a plan against a git ref, whose id nobody approves or applies, does not make it."""
    from modelplane.compiler.plan.execution import executable

    specs = result.head.specs
    environment = specs.project.environments.get(specs.environment)
    policy = policy_for(environment.approvals if environment is not None else None)
    needed = approvals_needed(result.plan, policy.require)
    if result.plan.base.kind != "state":
        return PlanNotes(None, specs.environment, needed)
    saved = executable(result.plan, result.head.graph, result.base)
    if saved.execution is not None:  # as runtime.apply.seal_plan adds it
        saved = saved.model_copy(update={"execution": saved.execution.model_copy(update={"approvals": policy})})
    return PlanNotes(saved.id, specs.environment, needed)
