"""Fleet simulation of the motivating workload; prints figures, never asserts.

    python benchmarks/bench_fleet.py [--seconds 4] [--window 12] [--replicas 180 250 320] [--seed 7]

What this 2-core machine cannot run for real: the `grammar-prod` endpoint of
examples/assistant-platform (env prod) at its declared 200,000 requests/s, about
50 input and 50 output tokens each, on 180..320 replicas. Its parameters (QPS,
tokens, SLO, replica bounds, per-replica capacity, the canary's analysis
settings) are read from the compiled spec, not typed here.

A discrete-event simulation (compiler/capacity/simulation.py, the planner's too): Poisson arrivals; each replica follows the local
simulator's latency model (runtime/local/simulator.py: time to first token,
then per-token decode that grows with the batch, at most `max_num_seqs`
running, the rest queue FIFO). Policies compared:

- ``p2c``: power of two choices on in-flight requests (the router's default);
- ``p2c+latency``: two random replicas; a replica is hot when it has more than
  1.25x the fleet's mean in flight; between two cold ones the lower recent
  latency (EWMA) wins, otherwise the cold one, otherwise fewer in flight
  (Prequal's hot/cold lexicographic rule);
- ``p2c+ejection``: power of two choices with outlier ejection on latency (a
  replica whose recent latency is over 2x the fleet's median is not picked
  while it stays there), as the local router does (Envoy has no latency
  ejection of its own: its per-try timeout ejects through gateway failures);
- ``round_robin``.

Scenario 1: one replica in ten degraded 3x. Scenario 2: a canary at the first
analysed weight of the endpoint's rollout (5% unless the spec says otherwise),
3x slower, on the replicas the capacity gate asks for (weight x peak QPS /
per-replica capacity); the revision is picked by weight first, as the router
and Envoy's weighted clusters do, and the gates of runtime/analysis.py are
applied to the first window that holds `min_requests` canary requests. A third
row per policy picks replicas across both revisions by load alone (weights only
bias the pick), which is how a load-aware balancer starves a slow canary: the
share gate catches it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# the analysis module's own noise floor, so the simulated ratio gate is the real one
from modelplane.compiler.capacity.simulation import POLICIES, Fleet, LatencyModel, Result, pct  # noqa: E402
from modelplane.compiler.capacity.simulation import simulate as run  # noqa: E402
from modelplane.runtime.analysis import slower_than_stable  # noqa: E402

SHARE_TOLERANCE = 0.2
"""The share gate: the canary's share of requests within 20% (relative) of its weight."""


@dataclass(frozen=True)
class Workload:
    qps: float
    output_tokens: int
    p99_slo_ms: float
    availability: float
    min_replicas: int
    max_replicas: int
    per_replica_qps: float
    canary_weight: int
    ratio: float
    min_requests: int
    window_s: float
    max_num_seqs: int
    ttft_ms: float
    tpot_ms: float


def workload() -> Workload:
    """The grammar endpoint as the compiler sees it (typed, defaults filled in)."""
    from modelplane.compiler.compile import compile_graph
    from modelplane.specs.base import NodeId
    from modelplane.specs.serving import Endpoint

    graph = compile_graph(REPO / "examples" / "assistant-platform", "prod").graph
    endpoint = graph.nodes[NodeId("endpoint", "grammar-prod")].model
    assert isinstance(endpoint, Endpoint)
    spec = endpoint.spec
    analysis = spec.rollout.analysis
    first = next(s.weight for s in spec.rollout.steps if s.analysis and s.weight > 0)
    from modelplane.runtime.typed import min_requests

    need = min_requests(spec)  # what the rollout uses: declared, or the error budget's (specs.sample_size)
    from modelplane.specs.common import duration_seconds

    sim = spec.engine.simulator
    return Workload(
        qps=float(spec.traffic.qps),
        output_tokens=int(spec.traffic.output_tokens),
        p99_slo_ms=float(spec.slo.p99_latency_ms),
        availability=float(spec.slo.availability),
        min_replicas=spec.autoscaling.min_replicas,
        max_replicas=spec.autoscaling.max_replicas,
        per_replica_qps=float(spec.capacity.target_qps_per_replica or 1000),
        canary_weight=first,
        ratio=float(analysis.max_p99_ratio_to_stable),
        min_requests=need,
        window_s=duration_seconds(analysis.window),
        max_num_seqs=int(spec.engine.args.max_num_seqs or 256),
        ttft_ms=float(sim.ttft_ms),
        tpot_ms=float(sim.tpot_ms),
    )


def simulate(
    w: Workload,
    slow: list[bool],
    policy: str,
    seconds: float,
    seed: int,
    canary: list[bool] | None = None,
    weight_first: bool = True,
) -> Result:
    """The package's fleet simulation (compiler/capacity/simulation.py) on the workload's latency model."""
    model = LatencyModel.simulator(w.ttft_ms, w.tpot_ms, w.max_num_seqs, w.output_tokens)
    fleet = Fleet(model, w.qps, len(slow), slow, 3.0, canary, float(w.canary_weight), w.min_requests)
    return run(fleet, policy, seconds, seed, weight_first=weight_first)


def degraded_table(w: Workload, sizes: list[int], seconds: float, seed: int) -> None:
    print(f"\nOne replica in ten degraded 3x: {w.qps:,.0f} req/s for {seconds:g} simulated s")
    print(f"  {'replicas':>8}  {'policy':<12} {'p50':>8} {'p99':>8} {'p99 slow':>9}  share per slow replica (fair)")
    for size in sizes:
        slow = [i % 10 == 0 for i in range(size)]
        for policy in POLICIES:
            res = simulate(w, slow, policy, seconds, seed)
            everything = res.latencies[0] + res.latencies[1]
            total = sum(res.served)
            slow_share = sum(s for s, is_slow in zip(res.served, slow, strict=True) if is_slow) / total
            per_slow = slow_share / sum(slow)
            print(
                f"  {size:>8}  {policy:<12} {pct(everything, 0.5):>6.0f}ms {pct(everything, 0.99):>6.0f}ms"
                f" {pct(res.latencies[1], 0.99):>7.0f}ms  {per_slow:.3%} ({1 / size:.3%})"
            )


def gates(w: Workload, res: Result, size: int) -> tuple[str, str, str, str]:
    """(latency vs SLO, ratio to stable, share, time to decide) for one canary run."""
    canary, stable = res.latencies[1], res.latencies[0]
    share = sum(res.served[size:]) / sum(res.served)
    need_s = "never" if res.decided_at is None else f"{res.decided_at:.1f}s"
    if len(canary) < w.min_requests:
        verdict = f"inconclusive ({len(canary):,} < {w.min_requests:,})"
        return verdict, verdict, _share(w, share), need_s
    p99, base = pct(canary, 0.99), pct(stable, 0.99)
    slo = "FAIL" if p99 > w.p99_slo_ms else "pass"
    figures = [{"requests": len(x), "p50_ms": pct(x, 0.5), "p99_ms": pct(x, 0.99)} for x in (canary, stable)]
    ratio_fail = slower_than_stable(figures[0], figures[1], w.ratio) is not None
    ratio = f"{'FAIL' if ratio_fail else 'pass'} ({p99:.0f} vs {base:.0f} ms, {p99 / base:.1f}x)"
    return f"{slo} ({p99:.0f} ms)", ratio, _share(w, share), need_s


def _share(w: Workload, share: float) -> str:
    weight = w.canary_weight / 100
    ok = abs(share - weight) <= SHARE_TOLERANCE * weight
    return f"{'pass' if ok else 'FAIL'} ({share:.2%} of {weight:.0%})"


def canary_table(w: Workload, size: int, window: float, seed: int) -> None:
    canary_replicas = math.ceil(w.canary_weight / 100 * w.qps / w.per_replica_qps)
    print(
        f"\nCanary at {w.canary_weight}% and 3x slower: {size} stable + {canary_replicas} canary replicas "
        f"(capacity gate), {window:g} simulated s of the {w.window_s:g} s window, min_requests {w.min_requests:,}"
    )
    print(f"  {'policy':<26} {'p99 vs SLO':<18} {'p99 vs stable x' + str(w.ratio):<32} {'share':<22} decided at")
    n = size + canary_replicas
    canary = [i >= size for i in range(n)]
    rows = [(p, True) for p in POLICIES] + [("p2c", False)]
    for policy, weight_first in rows:
        res = simulate(w, canary, policy, window, seed, canary=canary, weight_first=weight_first)
        name = policy + (" (weight first)" if weight_first else " (load-aware across)")
        slo, ratio, share, when = gates(w, res, size)
        print(f"  {name:<26} {slo:<18} {ratio:<32} {share:<22} {when}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="simulated seconds per degraded-replica run")
    ap.add_argument("--window", type=float, default=12.0, help="simulated seconds of the canary's window")
    ap.add_argument("--replicas", type=int, nargs="*", help="fleet sizes (default: min, middle, max of the spec)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--canary-weight", type=int, default=5, help="the canary's weight in percent")
    args = ap.parse_args()
    w = dataclasses.replace(workload(), canary_weight=args.canary_weight)
    sizes = args.replicas or [w.min_replicas, (w.min_replicas + w.max_replicas) // 2, w.max_replicas]
    print(
        f"grammar-prod (examples/assistant-platform, env prod): {w.qps:,.0f} req/s, {w.output_tokens} output tokens,"
        f" p99 SLO {w.p99_slo_ms:g} ms, availability {w.availability}, {w.per_replica_qps:g} req/s per replica,"
        f" simulator ttft {w.ttft_ms:g} ms + {w.tpot_ms:g} ms/token, max_num_seqs {w.max_num_seqs}"
    )
    started = time.perf_counter()
    degraded_table(w, sizes, args.seconds, args.seed)
    canary_table(w, sizes[0], args.window, args.seed)
    print(f"\n(simulated in {time.perf_counter() - started:.0f} s wall)")


if __name__ == "__main__":
    main()
