"""What a plan sees of the local stack beyond the state (issue 30, item 5): ``runtime.local.drift``.

Processes are this test process itself (alive, ours) or a blank identity (never matched: dead).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from modelplane.compiler.change.state import AppliedNode, AppliedState, EmptyState
from modelplane.runtime.local import drift
from modelplane.runtime.local.registry import Autoscaling, Registry, Replica, Revision, RouterProc, registry_path, write
from modelplane.runtime.procs import stamp


def _replica(port: int) -> Replica:
    me = stamp(os.getpid())
    return Replica(pid=me.pid, port=port, started=me.started, cmdline=me.cmdline)


def _router() -> RouterProc:
    me = stamp(os.getpid())
    return RouterProc(pid=me.pid, port=1, started=me.started, cmdline=me.cmdline)


POLICY = Autoscaling(
    min_replicas=1, max_replicas=1, metric="concurrency", target=1.0, up_stabilization_s=0, up_percent=100,
    up_period_s=1, down_stabilization_s=0, down_percent=100, down_period_s=1,
)  # fmt: skip


def _registry(**changes: object) -> Registry:
    reg = Registry(
        endpoint="chat",
        environment="dev",
        router=_router(),
        autoscaling=POLICY,
        autoscaler=_replica(0),
        revisions={
            "r1": Revision(role="stable", weight=100, replicas=[_replica(2)]),
            "r2": Revision(role="canary", weight=0, replicas=[_replica(3)]),
        },
    )
    return reg.model_copy(update=changes)


def test_a_stack_as_applied_needs_no_repair() -> None:
    assert drift.drifted(_registry()) is None


def test_a_dead_router_or_autoscaler_is_drift() -> None:
    dead = RouterProc(pid=os.getpid(), port=1)  # no recorded identity: never taken for a live process
    assert "its router is not running" in (drift.drifted(_registry(router=dead)) or "")
    assert "its router is not running" in (drift.drifted(_registry(router=None)) or "")
    gone = Replica(pid=os.getpid(), port=0)
    assert "its autoscaler is not running" in (drift.drifted(_registry(autoscaler=gone)) or "")


def test_a_canary_weight_is_drift_only_once_its_lease_expired() -> None:
    reg = _registry(canary_lease_until=time.time() + 60)
    reg.revisions["r1"].weight, reg.revisions["r2"].weight = 50, 50
    assert drift.drifted(reg) is None  # a rollout holds it
    reg.canary_lease_until = time.time() - 1
    assert "its weights (r1 50%, r2 50%) are not the declared ones" in (drift.drifted(reg) or "")
    assert drift.declared_weights(reg) == ["r2"]
    assert (reg.revisions["r1"].weight, reg.revisions["r2"].weight, reg.canary_lease_until) == (100, 0, None)
    assert drift.drifted(reg) is None
    manual = _registry(canary_lease_until=None)  # a rollout waiting for a person: no lease, the weight stays
    manual.revisions["r2"].weight = 50
    assert drift.drifted(manual) is None


def test_no_live_stable_replica_keeps_the_canary_serving() -> None:
    reg = _registry(canary_lease_until=time.time() - 1)
    reg.revisions["r1"].replicas = [Replica(pid=os.getpid(), port=2)]
    reg.revisions["r2"].weight = 50
    assert drift.declared_weights(reg) == []
    assert reg.revisions["r2"].weight == 50


def test_plans_read_a_repair_only_for_applied_endpoints(tmp_path: Path) -> None:
    write(registry_path(tmp_path, "dev", "chat"), _registry(router=None))
    applied = AppliedState(
        serial=3, nodes={"endpoint/chat": AppliedNode(kind="Endpoint", file="specs/s.yaml", index=0, data={})}
    )

    class _State:
        def applied(self, environment: str) -> AppliedState:
            return applied

    seen = drift.LocalRepairs(_State(), tmp_path).applied("dev")
    assert list(seen.pending) == ["provision:endpoint/chat"] and seen.serial == 3
    assert seen.pending["provision:endpoint/chat"].reason.startswith("the local stack drifted: its router")
    assert drift.LocalRepairs(EmptyState(), tmp_path).applied("dev").pending == {}  # nothing applied: nothing owed
