"""The local stack scales itself: load at 3x one replica's target grows the revision within the scale-up
policy, and once the load stops it shrinks back to its minimum within the scale-down policy, with no
request failing in either direction (new replicas join after readiness; removed ones drain first)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.pipeline import Pipeline, make_pipeline

pytestmark = pytest.mark.integration

SCALING = (
    "{min_replicas: 1, max_replicas: 4, metric: concurrency, target: 4,"
    " scale_up: {stabilization: 0s, max_percent_per_period: 100, period: 2s},"
    " scale_down: {stabilization: 4s, max_percent_per_period: 100, period: 2s}}"
)


@pytest.fixture
def scaling(tmp_path: Path) -> Iterator[Pipeline]:
    p = make_pipeline(tmp_path / "p", serving=True)
    p.edit("autoscaling: {min_replicas: 2, max_replicas: 2}", f"autoscaling: {SCALING}", file="specs/serving.yaml")
    # ~0.5 s a request (10 ms a token, 50 tokens): 24 req/s keep ~12 in flight, 3x the target of 4 per replica
    p.edit("simulator: {ttft_ms: 10, tpot_ms: 1}", "simulator: {ttft_ms: 10, tpot_ms: 10}", file="specs/serving.yaml")
    try:
        yield p
    finally:
        p.stop()


def _replicas(p: Pipeline) -> tuple[int, int]:
    """(ready and serving, all) replicas of the one revision."""
    (rev,) = p.registry()["revisions"].values()
    reps = rev["replicas"]
    return sum(1 for r in reps if r.get("ready", True) and not r.get("draining")), len(reps)


def _wait(p: Pipeline, ok: object, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if ok(*_replicas(p)):  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"replicas {_replicas(p)} after {timeout} s; scaling: {p.registry().get('scaling')}")


def test_load_grows_the_revision_and_it_shrinks_back_without_a_failed_request(scaling: Pipeline) -> None:
    scaling.run("apply", "--auto-approve", check=True)
    assert _replicas(scaling) == (1, 1)
    load = scaling.start("load", "chat", "--qps", "24", "--duration", "25", "--format", "json")
    grew = _wait(scaling, lambda ready, _: ready >= 3, 20)
    events = scaling.registry()["scaling"]
    assert events[0]["replicas_from"] == 1 and events[0]["replicas_to"] == 2  # 100% of 1 in the first period
    assert "concurrency total" in events[0]["reason"] and "target 4 per replica" in events[0]["reason"]
    status = scaling.run("status", check=True).stdout
    assert "autoscaler pid" in status and "1 -> 2 replicas" in status
    with urllib.request.urlopen(scaling.router() + "/metrics") as r:
        metrics = r.read().decode()
    assert 'modelplane_router_replicas{revision="' in metrics and "modelplane_autoscaler_desired_replicas" in metrics
    out, _ = load.communicate(timeout=60)
    summary = json.loads(out)
    assert summary["errors"] == 0 and summary["ok"] == summary["sent"], summary  # none failed while growing
    # light load while it shrinks (~2 in flight: one replica's worth): replicas leave with requests on them
    light = scaling.start("load", "chat", "--qps", "4", "--duration", "15", "--format", "json")
    shrank = _wait(scaling, lambda ready, total: ready == 1 and total == 1, 30)
    downs = [e for e in scaling.registry()["scaling"] if e["replicas_to"] < e["replicas_from"]]
    assert downs and downs[-1]["replicas_to"] == 1
    out, _ = light.communicate(timeout=60)
    summary = json.loads(out)
    assert summary["errors"] == 0 and summary["ok"] == summary["sent"], summary  # none failed while shrinking
    print(f"grew to 3+ in {grew:.1f} s; back to 1 in {shrank:.1f} s after the load")
