"""Approval policy: which classes of change apply only once the owners of their nodes approve.

An environment's ``approvals.require`` (modelplane.yaml) names classes: impact
categories of affected nodes (``broken``, ``retrain-required``...) and effects of
changed nodes (``breaking``, ``metadata-only``...). Every owner of a node in such a
class must approve the plan (``modelplane approve --plan ID --owner OWNER``)
before ``apply`` runs it; everything else applies automatically. An approval is
for one plan (its content id: another plan needs its own) and is kept in the
state store's audit trail with who gave it, so every checkout and CI see it.

The policy is the plan's own (``Execution.approvals``, sealed with it), not the applier's
modelplane.yaml; the approver is identified by ``runtime.identity`` (CI OIDC token, signed
commit, OS user: never ``$USER``) and may approve only for an owner the plan names, where the
policy's ``approvers`` list them (or the owner is their own name).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from modelplane.compiler.plan.model import ApprovalPolicy, Plan, approvals_needed
from modelplane.errors import ModelplaneError
from modelplane.runtime.identity import Identity
from modelplane.runtime.settings import Settings
from modelplane.runtime.state import Store

ACTION = "approve"


@dataclass(frozen=True)
class Approval:
    owner: str
    by: str
    """Who approved (name@host), for the owner."""
    at: float
    via: str = ""
    """Where the approver's identity came from (``os-user: uid 0``, ``git-signed-commit: HEAD``, ``oidc: ...``)."""


def policy_of(plan: Plan) -> ApprovalPolicy:
    """The policy sealed into the plan (an unsealed report carries none: nothing to approve)."""
    ex = plan.execution
    return ex.approvals if ex is not None and ex.approvals is not None else ApprovalPolicy()


def needed(plan: Plan, require: Sequence[str]) -> dict[str, list[str]]:
    """Owner -> what of theirs needs their approval (``class: node``), for the classes ``require`` names
    (the compiler's rule, which ``plan`` shows too)."""
    return approvals_needed(plan, require)


def may_approve(policy: ApprovalPolicy, owner: str, name: str) -> bool:
    return name in policy.approvers.get(owner, []) or name == owner


def check_approver(plan: Plan, owner: str, me: Identity) -> list[str]:
    """What ``me`` approves for ``owner`` in ``plan``; an error if the plan does not ask ``owner`` for anything
    or ``me`` is not one of its approvers under the plan's policy."""
    policy = policy_of(plan)
    wanted = needed(plan, policy.require)
    if owner not in wanted:
        asked = ", ".join(f"`{o}`" for o in wanted) or "nobody (its policy requires no approval here)"
        raise ModelplaneError(
            f"plan {plan.id} does not need an approval from `{owner}`: it needs approvals from {asked}",
            hint=f"pass one of them: `modelplane approve --env {plan.environment} --plan {plan.id} --owner "
            f"{next(iter(wanted), 'OWNER')}`"
            if wanted
            else "nothing to approve: apply the plan",
        )
    if not may_approve(policy, owner, me.name):
        listed = ", ".join(policy.approvers.get(owner, [])) or "nobody"
        raise ModelplaneError(
            f"{me.name} ({me.via}) may not approve for {owner}: the plan's policy lists {listed} as its approvers",
            hint=f"ask one of them, or add `{me.name}` under approvals.approvers.{owner} in modelplane.yaml "
            "(the environment's section) and plan again: the policy is sealed into each plan",
        )
    return wanted[owner]


def given(store: Store, plan: Plan) -> dict[str, Approval]:
    """The approvals recorded for this plan that its policy accepts, by owner (the first for each)."""
    policy = policy_of(plan)
    out: dict[str, Approval] = {}
    for e in store.audit(plan.environment):
        if e.action != ACTION or e.detail.get("plan_id") != plan.id:
            continue
        owner, name = str(e.detail.get("owner")), e.detail.get("identity")
        if isinstance(name, str) and may_approve(policy, owner, name):  # recorded before identities: not counted
            out.setdefault(owner, Approval(owner, e.who, e.at, str(e.detail.get("via", ""))))
    return out


def record(store: Store, environment: str, plan_id: str, owner: str, me: Identity, items: list[str]) -> None:
    detail = {"plan_id": plan_id, "owner": owner, "approves": items, "identity": me.name, "via": me.via}
    store.audit_add(environment, me.who, ACTION, detail)


def missing(plan: Plan, store: Store) -> dict[str, list[str]]:
    """The owners whose approval the plan still lacks, with what of theirs it is for."""
    have = given(store, plan)
    return {o: items for o, items in needed(plan, policy_of(plan).require).items() if o not in have}


async def wait_for(s: Settings, plan: Plan, store: Store, wait: float) -> list[Approval]:
    """Every owner the plan's policy requires has approved ``plan`` (after waiting up to ``wait`` seconds for
    them): their approvals. Otherwise an error before anything runs, naming who must approve what."""
    require = policy_of(plan).require
    if not needed(plan, require):
        return []
    deadline = time.monotonic() + wait
    while (lacking := missing(plan, store)) and time.monotonic() < deadline:
        await asyncio.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
    if lacking:
        who = "; ".join(f"{o} ({', '.join(items)})" for o, items in lacking.items())
        raise ModelplaneError(
            f"{s.environment} requires the owners' approval for {', '.join(require)}: plan {plan.id} still needs {who}",
            hint="each of them runs `modelplane approve --env "
            f"{s.environment} --plan {plan.id} --owner OWNER`; then apply again (or pass --wait-approvals SECONDS)",
        )
    return list(given(store, plan).values())
