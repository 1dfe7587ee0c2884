"""The quickstart scales at its declared capacity: load at 3x `capacity.target_qps_per_replica` (20 req/s) grows
the revision, with the default metric (requests in flight, the target derived from the declared rate and the
simulator's latency) and with `metric: qps`, and it shrinks back to its minimum once the load stops.

Before, the in-flight target was the declared rate at half the SLO (10 in flight): the simulator answers in
~125 ms, so 60 req/s held ~8 in flight in all and never scaled out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

FAST = (
    "    min_replicas: 1\n"
    "    max_replicas: 4\n"
    "    scale_up: {stabilization: 0s, max_percent_per_period: 100, period: 2s}\n"
    "    scale_down: {stabilization: 4s, max_percent_per_period: 100, period: 2s}\n"
)


def _ready(p: Pipeline) -> tuple[int, int]:
    (rev,) = p.registry("tiny-chat")["revisions"].values()
    reps = rev["replicas"]
    return sum(1 for r in reps if r.get("ready", True) and not r.get("draining")), len(reps)


def _wait(p: Pipeline, ok: Callable[[int, int], bool], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if ok(*_ready(p)):
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"replicas {_ready(p)} after {timeout} s; scaling: {p.registry('tiny-chat').get('scaling')}")


@pytest.mark.parametrize("metric", ["", "    metric: qps\n"], ids=["default-metric", "qps"])
def test_three_times_the_declared_capacity_scales_out_and_back_in(quickstart: Pipeline, metric: str) -> None:
    quickstart.edit(
        "    min_replicas: ${var.replicas}\n    max_replicas: 4\n", FAST + metric, file="specs/serving.yaml"
    )
    quickstart.run("apply", "--auto-approve", check=True, timeout=180)
    assert _ready(quickstart) == (1, 1)
    policy = quickstart.registry("tiny-chat")["autoscaling"]
    if metric:
        assert (policy["metric"], policy["target"]) == ("qps", 20)
    else:  # 20 req/s x the simulator's ~122 ms (20 ms first token, 50 tokens at ~2 ms): ~2.4 in flight
        assert (policy["metric"], policy["target"]) == ("concurrency", 3)
    load = quickstart.start("load", "tiny-chat", "--qps", "60", "--duration", "20", "--format", "json")
    grew = _wait(quickstart, lambda ready, _: ready >= 3, 20)
    events = quickstart.registry("tiny-chat")["scaling"]
    assert events and events[0]["replicas_from"] == 1 and events[0]["replicas_to"] >= 2, events
    out, _ = load.communicate(timeout=60)
    summary = json.loads(out)
    assert summary["errors"] == 0 and summary["ok"] == summary["sent"], summary
    shrank = _wait(quickstart, lambda ready, total: ready == 1 and total == 1, 30)
    downs = [e for e in quickstart.registry("tiny-chat")["scaling"] if e["replicas_to"] < e["replicas_from"]]
    assert downs and downs[-1]["replicas_to"] == 1
    print(f"{metric.strip() or 'default metric'}: grew to 3+ in {grew:.1f} s, back to 1 in {shrank:.1f} s")
