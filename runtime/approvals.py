"""Approval policy: which classes of change apply only once the owners of their nodes approve.

An environment's ``approvals.require`` (modelplane.yaml) names classes: impact
categories of affected nodes (``broken``, ``retrain-required``...) and effects of
changed nodes (``breaking``, ``metadata-only``...). Every owner of a node in such a
class must approve the plan (``modelplane approve --plan ID --owner OWNER``)
before ``apply`` runs it; everything else applies automatically. An approval is
for one plan (its content id: another plan needs its own) and is kept in the
state store's audit trail with who gave it, so every checkout and CI see it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from modelplane.compiler.plan.model import Plan
from modelplane.errors import ModelplaneError
from modelplane.runtime.settings import Settings
from modelplane.runtime.state import Store

ACTION = "approve"


@dataclass(frozen=True)
class Approval:
    owner: str
    by: str
    """Who approved (user@host), for the owner."""
    at: float


def needed(plan: Plan, require: Sequence[str]) -> dict[str, list[str]]:
    """Owner -> what of theirs needs their approval (``class: node``), for the classes ``require`` names."""
    if not require:
        return {}
    wanted = set(require)
    out: dict[str, list[str]] = {}
    for c in plan.changes:
        if c.effect in wanted:
            out.setdefault(c.owner, []).append(f"{c.effect}: {c.id}")
    for i in plan.impact:
        if i.category in wanted:
            out.setdefault(i.owner, []).append(f"{i.category}: {i.id}")
    return {owner: sorted(set(items)) for owner, items in sorted(out.items())}


def given(store: Store, environment: str, plan_id: str) -> dict[str, Approval]:
    """The approvals recorded for this plan, by owner (the first for each)."""
    out: dict[str, Approval] = {}
    for e in store.audit(environment):
        if e.action == ACTION and e.detail.get("plan_id") == plan_id:
            owner = str(e.detail.get("owner"))
            out.setdefault(owner, Approval(owner, e.who, e.at))
    return out


def record(store: Store, environment: str, plan_id: str, owner: str, by: str, items: list[str]) -> None:
    store.audit_add(environment, by, ACTION, {"plan_id": plan_id, "owner": owner, "approves": items})


def missing(plan: Plan, require: Sequence[str], store: Store) -> dict[str, list[str]]:
    """The owners whose approval the plan still lacks, with what of theirs it is for."""
    have = given(store, plan.environment, plan.id)
    return {o: items for o, items in needed(plan, require).items() if o not in have}


async def wait_for(s: Settings, plan: Plan, store: Store, wait: float) -> list[Approval]:
    """Every owner the environment's policy requires has approved ``plan`` (after waiting up to ``wait``
    seconds for them): their approvals. Otherwise an error before anything runs, naming who must approve what."""
    require = s.project.environments[s.environment].approvals.require
    if not needed(plan, require):
        return []
    deadline = time.monotonic() + wait
    while (lacking := missing(plan, require, store)) and time.monotonic() < deadline:
        await asyncio.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
    if lacking:
        who = "; ".join(f"{o} ({', '.join(items)})" for o, items in lacking.items())
        raise ModelplaneError(
            f"{s.environment} requires the owners' approval for {', '.join(require)}: plan {plan.id} still needs {who}",
            hint="each of them runs `modelplane approve --env "
            f"{s.environment} --plan {plan.id} --owner OWNER`; then apply again (or pass --wait-approvals SECONDS)",
        )
    return list(given(store, plan.environment, plan.id).values())
