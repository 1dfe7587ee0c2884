"""Fleet simulation of the motivating workload; prints figures, never asserts.

    python benchmarks/bench_fleet.py [--seconds 4] [--window 12] [--replicas 180 250 320] [--seed 7]

What this 2-core machine cannot run for real: the `grammar-prod` endpoint of
examples/assistant-platform (env prod) at its declared 200,000 requests/s, about
50 input and 50 output tokens each, on 180..320 replicas. Its parameters (QPS,
tokens, SLO, replica bounds, per-replica capacity, the canary's analysis
settings) are read from the compiled spec, not typed here.

A discrete-event simulation: Poisson arrivals; each replica follows the local
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
import heapq
import math
import random
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# the analysis module's own noise floor, so the simulated ratio gate is the real one
from modelplane.runtime.analysis import slower_than_stable  # noqa: E402

POLICIES = ("p2c", "p2c+latency", "p2c+ejection", "round_robin")
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


@dataclass
class Result:
    latencies: list[list[float]]
    """Per group (0 stable/normal, 1 canary/degraded): latencies in ms."""
    served: list[int]
    """Requests each replica was sent after the warm-up."""
    decided_at: float | None = None


def simulate(
    w: Workload,
    slow: list[bool],
    policy: str,
    seconds: float,
    seed: int,
    canary: list[bool] | None = None,
    weight_first: bool = True,
    warmup: float = 1.0,
    hot_margin: float = 0.25,
) -> Result:
    """Run ``warmup + seconds`` of arrivals at ``w.qps``; ``slow`` marks the 3x replicas, ``canary`` the canary's.

    Only requests that arrive after the warm-up (when the fleet's queues have
    filled to their steady state) are measured, each until it completes.
    """
    rng = random.Random(seed)
    n = len(slow)
    scale = [3.0 if s else 1.0 for s in slow]
    in_flight = [0] * n
    running = [0] * n
    queues: list[deque[float]] = [deque() for _ in range(n)]
    ewma = [0.0] * n
    served = [0] * n
    group = [1 if (canary[i] if canary is not None else slow[i]) else 0 for i in range(n)]
    lat: list[list[float]] = [[], []]
    seqs, ttft, tpot, tokens = w.max_num_seqs, w.ttft_ms / 1000, w.tpot_ms / 1000, w.output_tokens
    done: list[tuple[float, int, float]] = []
    stable_ids = [i for i in range(n) if not group[i]] if canary is not None else list(range(n))
    canary_ids = [i for i in range(n) if group[i]] if canary is not None else []
    cw = w.canary_weight / 100
    weights = [cw / len(canary_ids) if group[i] else (1 - cw) / len(stable_ids) for i in range(n)] if canary else []
    rr = [0]
    total = [0]

    def service(r: int) -> float:
        return (ttft + tokens * tpot * (1.0 + 0.5 * running[r] / seqs)) * scale[r]

    ejected: set[int] = set()

    def eject_outliers() -> None:
        """Envoy-style outlier ejection on latency: out while its EWMA is over 2x the fleet's median."""
        known = sorted(e for e in ewma if e > 0)
        if known:
            limit = 2 * known[len(known) // 2]
            ejected.clear()
            ejected.update(i for i in range(n) if ewma[i] > limit)

    def pick(pool: list[int]) -> int:
        if policy == "p2c+ejection" and ejected:
            a, b = rng.choice(pool), rng.choice(pool)
            for _ in range(3):  # re-draw an ejected pick a few times, as Envoy re-picks a host
                if a not in ejected:
                    break
                a = rng.choice(pool)
            for _ in range(3):
                if b not in ejected:
                    break
                b = rng.choice(pool)
            return a if in_flight[a] <= in_flight[b] else b
        if policy == "round_robin":
            rr[0] += 1
            return pool[rr[0] % len(pool)]
        a, b = rng.choice(pool), rng.choice(pool)
        if policy == "p2c+latency":
            # Prequal's hot/cold rule: a replica is hot when its in-flight count is well above the
            # fleet's mean; between two cold ones the lower recent latency wins, otherwise fewer in flight
            hot = (1 + hot_margin) * total[0] / n
            hot_a, hot_b = in_flight[a] > hot, in_flight[b] > hot
            if not hot_a and not hot_b:
                return a if ewma[a] <= ewma[b] else b
            if hot_a != hot_b:
                return b if hot_a else a
        return a if in_flight[a] <= in_flight[b] else b

    def pick_weighted() -> int:
        a, b = rng.choices(range(n), weights, k=2)
        return a if in_flight[a] <= in_flight[b] else b

    t = 0.0
    rate = w.qps
    canary_seen = 0
    decided_at: float | None = None
    end_of_arrivals = warmup + seconds
    arrivals = 0
    while done or t < end_of_arrivals:
        t = t + rng.expovariate(rate) if t < end_of_arrivals else math.inf
        arrivals += 1
        if policy == "p2c+ejection" and arrivals % 20_000 == 0:
            eject_outliers()
        while done and done[0][0] <= t:
            end, r, began = heapq.heappop(done)
            ms = (end - began) * 1000
            ewma[r] = ms if ewma[r] == 0 else 0.9 * ewma[r] + 0.1 * ms
            in_flight[r] -= 1
            total[0] -= 1
            running[r] -= 1
            if began >= warmup:
                lat[group[r]].append(ms)
                if group[r] == 1 and canary is not None:
                    canary_seen += 1
                    if decided_at is None and canary_seen >= w.min_requests:
                        decided_at = end - warmup
            if queues[r]:
                running[r] += 1
                heapq.heappush(done, (end + service(r), r, queues[r].popleft()))
        if t == math.inf:
            break
        if canary is None:
            r = pick(stable_ids)
        elif weight_first:
            r = pick(canary_ids if rng.random() < cw else stable_ids)
        else:
            r = pick_weighted()
        in_flight[r] += 1
        total[0] += 1
        if t >= warmup:
            served[r] += 1
        if running[r] < seqs:
            running[r] += 1
            heapq.heappush(done, (t + service(r), r, t))
        else:
            queues[r].append(t)
    return Result(lat, served, decided_at)


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


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
