"""The planner against the fleet simulation, for the grammar endpoint at 200,000 requests/s.

No H100 is here, so a latency model stands in for one replica (continuous batching, ITL = a + b x running,
the form llm-d's WVA fits; figures below are illustrative, chosen so one replica sustains ~1,000 req/s at
p99 1 s with 50 output tokens, the order of the reference's measured 750-1,200 QPS per H100 pod). Then:

1. ``bench``'s own search measures one simulated replica and writes a profile keyed to grammar-prod;
2. ``plan`` on examples/assistant-platform (prod) sizes grammar-prod from that profile (its fleet simulation
   calibrated on the profile's probes, not on the true model);
3. the simulation on the true model finds the smallest fleet meeting p99 < 1 s at 200,000 req/s (the
   20,000 req/s slice, finer than the plan's).

Prints the three counts and how far the planner is from the simulation (the bar: within 10%).

    python benchmarks/bench_capacity_model.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from modelplane.compiler.capacity import simbench
from modelplane.compiler.capacity.profile import key_of
from modelplane.compiler.capacity.simulation import smallest_fleet
from modelplane.compiler.capacity.stage import profiles_of, sizings
from modelplane.compiler.compile import compile_graph
from modelplane.specs.base import NodeId
from modelplane.specs.models import Model
from modelplane.specs.serving import Endpoint

ROOT = Path(__file__).resolve().parent.parent
H100_MODEL = simbench.H100_SHAPED


def grammar_plan(profile_json: bytes) -> tuple[int, int, float]:
    """(planner's replicas, the profile-only count, the profile's req/s per replica) for grammar-prod in prod."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "assistant-platform"
        shutil.copytree(ROOT / "examples" / "assistant-platform", root, ignore=shutil.ignore_patterns(".modelplane"))
        (root / "profiles").mkdir(exist_ok=True)
        (root / "profiles" / "grammar-prod.json").write_bytes(profile_json)
        # not strict: with a measured profile the example's declared autoscaler figures may no longer hold (the
        # plan says so as errors); the count within the SLO is what is compared here
        graph = compile_graph(root, "prod", use_cache=False, strict=False).graph
        s, binding = sizings(graph, profiles_of(graph))[NodeId("endpoint", "grammar-prod")]
        assert s is not None and binding.profile is not None and not binding.stale, binding
        return s.within_slo, s.profile_replicas, s.source.qps_per_replica


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4.0, help="simulated seconds per fleet run (after 1 s warm-up)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    graph = compile_graph(ROOT / "examples" / "assistant-platform", "prod", use_cache=False).graph
    ep, model = graph.nodes[NodeId("endpoint", "grammar-prod")].model, graph.nodes[NodeId("model", "grammar-llm")].model
    assert isinstance(ep, Endpoint) and isinstance(model, Model)
    peak, slo = float(ep.spec.traffic.qps), ep.spec.slo.p99_latency_ms
    key = key_of(ep.spec, "grammar-llm", model.spec)
    t = time.perf_counter()
    at = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    prof = simbench.profile(H100_MODEL, key, slo, ep.spec.slo.availability, start_rate=100, at=at)
    print(
        f"bench of one simulated replica: {len(prof.probes)} probes, {prof.capacity.qps_per_replica:g} req/s "
        f"({prof.capacity.low:g}-{prof.capacity.high:g}) at p99 {slo:g} ms, "
        f"{prof.capacity.in_flight_per_replica:.0f} in flight ({time.perf_counter() - t:.1f} s)"
    )
    t = time.perf_counter()
    planned, profile_only, _ = grammar_plan(orjson.dumps(prof.model_dump(mode="json")))
    print(f"plan: {planned} replicas (profile alone: {profile_only} = ceil({peak:,.0f} / per-replica)) "
          f"({time.perf_counter() - t:.1f} s, compile and simulation)")  # fmt: skip
    t = time.perf_counter()
    truth = smallest_fleet(H100_MODEL, peak, slo, start=profile_only, seconds=args.seconds)
    print(f"simulation on the true model: smallest fleet with p99 < {slo:g} ms at {peak:,.0f} req/s: {truth} "
          f"({time.perf_counter() - t:.1f} s)")  # fmt: skip
    off = (planned - truth) / truth
    print(f"planner vs simulation: {off:+.1%} ({'within' if abs(off) <= 0.10 else 'OUTSIDE'} 10%); "
          f"profile alone: {(profile_only - truth) / truth:+.1%}")  # fmt: skip
    print(f"GPUs at that count: {math.ceil(planned * ep.spec.resources.gpus_per_replica)} H100")


if __name__ == "__main__":
    main()
