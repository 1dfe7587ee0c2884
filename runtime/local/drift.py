"""What the local stack runs that the state does not say (issue 30, item 5): the next plan repairs it.

The state records what an apply did; the local stack can lose part of it afterwards with no apply running:
a router killed, an endpoint's autoscaler (its supervisor: it replaces dead replicas and is the canary
lease's watchdog) killed, or a canary left with weight once the rollout that held it stopped renewing its
lease. ``plan`` said "No changes" then. Each such endpoint gets a pending ``provision`` action here, which
the plan carries like work an earlier apply left: provisioning starts the router and autoscaler again and
puts the declared weights back (``LocalProvisioner._router``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from modelplane.compiler.change.state import AppliedState, PendingAction, StateReader
from modelplane.runtime.local.registry import Registry, all_registries
from modelplane.runtime.procs import is_ours


class LocalRepairs:
    """A state reader whose pending work includes the local stack's repairs (the store's own pending wins)."""

    def __init__(self, inner: StateReader, root: Path) -> None:
        self.inner, self.root = inner, root

    def applied(self, environment: str) -> AppliedState:
        applied = self.inner.applied(environment)
        extra = repairs(self.root, environment, applied)
        return replace(applied, pending={**extra, **applied.pending}) if extra else applied


def repairs(root: Path, environment: str, applied: AppliedState) -> dict[str, PendingAction]:
    """A ``provision`` per applied local endpoint whose processes or weights drifted, by action id."""
    out: dict[str, PendingAction] = {}
    for _, reg in all_registries(root, environment):
        nid = f"endpoint/{reg.endpoint}"
        if nid in applied.nodes and (why := drifted(reg)) is not None:
            out[f"provision:{nid}"] = PendingAction("provision", nid, f"the local stack drifted: {why}")
    return out


def drifted(reg: Registry) -> str | None:
    """What of the endpoint's local stack is not as applied, or None."""
    if reg.router is None or not is_ours(reg.router):
        return "its router is not running (the endpoint serves nothing)"
    if reg.autoscaling is not None and (reg.autoscaler is None or not is_ours(reg.autoscaler)):
        return "its autoscaler is not running (nothing replaces a dead replica)"
    if lease_expired(reg):
        weights = ", ".join(f"{n} {r.weight}%" for n, r in reg.revisions.items())
        return f"its weights ({weights}) are not the declared ones: the canary's rollout no longer holds them"
    return None


def lease_expired(reg: Registry) -> bool:
    """A revision other than stable has weight, held by a lease the rollout no longer renews."""
    stable = reg.stable()
    off = any(n != stable and r.weight > 0 for n, r in reg.revisions.items())
    return off and reg.canary_lease_until is not None and time.time() > reg.canary_lease_until


def declared_weights(reg: Registry) -> list[str]:
    """Put the declared weights back in ``reg`` (stable 100, the rest 0) where the stable revision has a live,
    ready replica; the revisions whose weight went to 0 (none: nothing to go back to, or nothing to do)."""
    stable = reg.stable()
    if stable is None or not any(r.ready and is_ours(r) for r in reg.revisions[stable].replicas):
        return []
    moved = [n for n, rev in reg.revisions.items() if n != stable and rev.weight > 0]
    for n in moved:
        reg.revisions[n].weight = 0
    reg.revisions[stable].weight = 100
    reg.canary_lease_until = None
    return moved
