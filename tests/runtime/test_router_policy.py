"""The local router's choices, in process: P2C's latency tie-break, slow start, the concurrency cap with
spill-over to another revision, and outlier ejection on latency."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from modelplane.runtime.local.router import Backend, Router


def _router(tmp_path: Path, **backends: list[Backend]) -> Router:
    r = Router(tmp_path / "none.json")
    r.backends = dict(backends)
    r.weights = {name: 100 // len(backends) for name in backends}
    return r


def _old(url: str, **kw: object) -> Backend:
    b = Backend(url, 0, **kw)  # type: ignore[arg-type]
    b.joined = time.monotonic() - 3600
    return b


def test_equal_queues_go_to_the_faster_replica(tmp_path: Path) -> None:
    fast, slow = _old("fast", ewma_ms=100.0), _old("slow", ewma_ms=300.0)
    r = _router(tmp_path, a=[fast, slow])
    picks = Counter(r.pick_backend("a", set()).url for _ in range(200))  # type: ignore[union-attr]
    assert picks == {"fast": 200}
    slow.inflight, fast.inflight = 0, 3  # fewer in flight still wins over latency
    assert r.pick_backend("a", set()).url == "slow"  # type: ignore[union-attr]


def test_a_new_replica_ramps_up_over_slow_start(tmp_path: Path) -> None:
    old, new = _old("old", inflight=2), Backend("new", 0, inflight=1)
    r = _router(tmp_path, a=[old, new])
    r.reg.slow_start_s = 30.0
    assert new.load(time.monotonic(), 30.0) > old.load(time.monotonic(), 30.0)  # 1 in flight weighs more while new
    assert r.pick_backend("a", set()).url == "old"  # type: ignore[union-attr]
    r.reg.slow_start_s = 0.0
    assert r.pick_backend("a", set()).url == "new"  # type: ignore[union-attr]


def test_a_full_revision_spills_to_one_with_room_and_sheds_when_none_has(tmp_path: Path) -> None:
    canary = [_old("c1", cap=1, inflight=1), _old("c2", cap=1, inflight=1)]
    stable = [_old("s1")]
    r = _router(tmp_path, canary=canary, stable=stable)
    r.weights = {"canary": 100, "stable": 0}
    r.weights["stable"] = 1  # a revision with weight takes the spill
    assert {r.pick_revision() for _ in range(50)} == {"stable"}
    assert r.full("canary") and r.pick_backend("canary", set()) is None
    canary[0].inflight = 0
    assert r.pick_backend("canary", set()) is canary[0]


def test_latency_outliers_are_ejected_a_third_at_most(tmp_path: Path) -> None:
    bs = [_old(f"r{i}", ewma_ms=100.0) for i in range(6)]
    bs[0].ewma_ms, bs[1].ewma_ms, bs[2].ewma_ms = 400.0, 390.0, 380.0
    r = _router(tmp_path, a=bs)
    out = r.eject_slow(bs)
    assert [b.url for b in out] == ["r0", "r1"]  # 6 replicas: 2 out at most
    assert all(not b.usable(time.monotonic()) for b in out) and bs[0].ewma_ms == 100.0
    assert r.eject_slow(bs) == []  # the third stays: the budget is spent while two are out
    few = [_old("x", ewma_ms=500.0), _old("y", ewma_ms=100.0)]
    assert r.eject_slow(few) == []  # too few to tell an outlier
