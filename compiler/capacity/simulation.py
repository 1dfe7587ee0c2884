"""A discrete-event simulation of an endpoint's fleet: Poisson arrivals routed to replicas that batch.

Each replica follows a latency model of continuous batching: a request's end-to-end
latency is its time to first token plus ``output_tokens`` inter-token latencies, where the
inter-token latency grows with the requests running beside it (``ITL = itl0 + slope x
running``, the form llm-d's WVA fits per accelerator); at most ``max_num_seqs`` run, the
rest wait FIFO. The same model drives the local simulator, and ``calibrate`` fits it to a
measured profile, so the planner's replica count can be checked against the smallest
fleet the simulation finds within the SLO (``smallest_fleet``).

Used by the capacity planner and by benchmarks/bench_fleet.py (routing policies, slow
replicas, canaries). Pure and seeded: the same inputs give the same figures.
"""

from __future__ import annotations

import functools
import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field

from modelplane.compiler.capacity.profile import Profile

POLICIES = ("p2c", "p2c+latency", "p2c+ejection", "round_robin")


@dataclass(frozen=True)
class LatencyModel:
    """One replica: first token after ``ttft_s``, then one token per ``itl0_s + slope_s x running``."""

    ttft_s: float
    itl0_s: float
    slope_s: float
    max_num_seqs: int
    output_tokens: int

    def service_s(self, running: int) -> float:
        return self.ttft_s + self.output_tokens * (self.itl0_s + self.slope_s * running)

    @classmethod
    def simulator(cls, ttft_ms: float, tpot_ms: float, max_num_seqs: int, output_tokens: int) -> LatencyModel:
        """The local simulator's model: decode slows by half at a full batch (runtime/local/simulator.py)."""
        return cls(ttft_ms / 1000, tpot_ms / 1000, 0.5 * tpot_ms / 1000 / max_num_seqs, max_num_seqs, output_tokens)


def calibrate(profile: Profile, max_num_seqs: int) -> LatencyModel:
    """The latency model that fits a profile's probes: TTFT from its least-loaded probe, ITL = a + b x in-flight
    by least squares over the probes below a full batch (in-flight per replica as measured)."""
    usable = [p for p in profile.probes if p.in_flight is not None and p.e2e_ms.p50 is not None and p.requests > 0]
    if not usable:
        raise ValueError("the profile has no probe with in-flight and latency figures to calibrate on")
    usable.sort(key=lambda p: p.in_flight or 0.0)
    tokens = profile.key.output_tokens
    first = usable[0]
    ttft = (first.ttft_ms.p50 or 0.0) / 1000
    points = []
    for p in usable:
        assert p.in_flight is not None and p.e2e_ms.p50 is not None
        if p.in_flight > max_num_seqs:
            continue
        ttft_p = (p.ttft_ms.p50 / 1000) if p.ttft_ms.p50 is not None else ttft
        points.append((p.in_flight, max(0.0, (p.e2e_ms.p50 / 1000 - ttft_p) / tokens)))
    if len(points) < 2 or len({x for x, _ in points}) < 2:
        itl = points[0][1] if points else (first.e2e_ms.p50 / 1000 - ttft) / tokens  # type: ignore[operator]
        return LatencyModel(ttft, max(itl, 1e-6), 0.0, max_num_seqs, tokens)
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = max(0.0, sum((x - mx) * (y - my) for x, y in points) / sxx)
    return LatencyModel(ttft, max(my - slope * mx, 1e-6), slope, max_num_seqs, tokens)


@dataclass
class Result:
    latencies: list[list[float]]
    """Per group (0 stable/normal, 1 canary/degraded): latencies in ms of the requests after the warm-up."""
    served: list[int]
    """Requests each replica was sent after the warm-up."""
    decided_at: float | None = None
    """When the canary group had ``min_requests`` completed (seconds after the warm-up)."""

    @property
    def all_ms(self) -> list[float]:
        return self.latencies[0] + self.latencies[1]


def pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank below), NaN for no samples."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Fleet:
    """What one simulation runs: the model, the arrival rate, and who is slow or a canary."""

    model: LatencyModel
    qps: float
    replicas: int
    slow: list[bool] = field(default_factory=list)
    """Replicas degraded ``slow_factor`` times (empty: none)."""
    slow_factor: float = 3.0
    canary: list[bool] | None = None
    canary_weight: float = 0.0
    """Percent of requests sent to the canary replicas (weight first, as routers split)."""
    min_requests: int = 0


def simulate(
    fleet: Fleet,
    policy: str = "p2c",
    seconds: float = 3.0,
    seed: int = 7,
    weight_first: bool = True,
    warmup: float = 1.0,
    hot_margin: float = 0.25,
) -> Result:
    """Run ``warmup + seconds`` of Poisson arrivals; only requests after the warm-up are measured, to completion."""
    m = fleet.model
    rng = random.Random(seed)
    n = fleet.replicas
    slow = fleet.slow or [False] * n
    scale = [fleet.slow_factor if s else 1.0 for s in slow]
    in_flight = [0] * n
    running = [0] * n
    queues: list[deque[float]] = [deque() for _ in range(n)]
    ewma = [0.0] * n
    served = [0] * n
    canary = fleet.canary
    group = [1 if (canary[i] if canary is not None else slow[i]) else 0 for i in range(n)]
    lat: list[list[float]] = [[], []]
    done: list[tuple[float, int, float]] = []
    stable_ids = [i for i in range(n) if not group[i]] if canary is not None else list(range(n))
    canary_ids = [i for i in range(n) if group[i]] if canary is not None else []
    cw = fleet.canary_weight / 100
    weights = [cw / len(canary_ids) if group[i] else (1 - cw) / len(stable_ids) for i in range(n)] if canary else []
    rr = [0]
    total = [0]
    ejected: set[int] = set()

    def service(r: int) -> float:
        return m.service_s(running[r]) * scale[r]

    def eject_outliers() -> None:
        """Envoy-style outlier ejection on latency: out while its EWMA is over 2x the fleet's median."""
        known = sorted(e for e in ewma if e > 0)
        if known:
            limit = 2 * known[len(known) // 2]
            ejected.clear()
            ejected.update(i for i in range(n) if ewma[i] > limit)

    def redraw(pool: list[int], a: int) -> int:
        for _ in range(3):  # re-draw an ejected pick a few times, as Envoy re-picks a host
            if a not in ejected:
                break
            a = rng.choice(pool)
        return a

    def pick(pool: list[int]) -> int:
        if policy == "round_robin":
            rr[0] += 1
            return pool[rr[0] % len(pool)]
        # two different replicas, as the router and Envoy draw them (the same one twice would be a random pick)
        a, b = rng.sample(pool, 2) if len(pool) > 1 else (pool[0], pool[0])
        if policy == "p2c+ejection" and ejected:
            a, b = redraw(pool, a), redraw(pool, b)
        elif policy == "p2c+latency":
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
    canary_seen = 0
    decided_at: float | None = None
    end_of_arrivals = warmup + seconds
    arrivals = 0
    while done or t < end_of_arrivals:
        t = t + rng.expovariate(fleet.qps) if t < end_of_arrivals else math.inf
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
                    if decided_at is None and canary_seen >= fleet.min_requests:
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
        if running[r] < m.max_num_seqs:
            running[r] += 1
            heapq.heappush(done, (t + service(r), r, t))
        else:
            queues[r].append(t)
    return Result(lat, served, decided_at)


SLICE_REQUESTS_PER_S = 20_000.0
"""Above this arrival rate a fleet is simulated as a slice: a share of its replicas with the same share of its
traffic. Power of two choices balances each replica against two random others, so a slice of a few dozen
replicas at the same load per replica behaves as the whole fleet (the mean-field limit) at a fraction of the
events."""


MIN_REQUESTS = 20_000
"""Requests a simulated p99 is read from, at the least: its 200 slowest decide it."""


def p99_of(
    model: LatencyModel,
    qps: float,
    replicas: int,
    seconds: float = 4.0,
    seed: int = 7,
    slice_qps: float = SLICE_REQUESTS_PER_S,
) -> float:
    """Simulated p99 end-to-end latency (ms) of ``replicas`` under ``qps`` with power of two choices, over
    ``seconds`` or at least ``MIN_REQUESTS`` requests (a p99 of a few dozen is the slowest one's luck)."""
    share = min(1.0, slice_qps / qps) if qps > 0 else 1.0
    n = max(1, round(replicas * share))
    rate = qps * n / replicas
    seconds = max(seconds, MIN_REQUESTS / rate) if rate > 0 else seconds
    res = simulate(Fleet(model, rate, n), "p2c", seconds, seed)
    return pct(res.all_ms, 0.99)


PLAN_SLICE_REQUESTS_PER_S = 5_000.0
"""The slice the plan simulates: ~1 s of CPU for a 200,000 req/s endpoint, within ~2% of the 20,000 req/s slice
(benchmarks/bench_capacity_model.py prints both)."""


@functools.lru_cache(maxsize=256)
def planned_fleet(model: LatencyModel, qps: float, p99_ms: float, start: int) -> int:
    """``smallest_fleet`` as the plan runs it (a smaller slice, cached: validate, plan and the language server
    ask the same question many times)."""
    return smallest_fleet(model, qps, p99_ms, start, slice_qps=PLAN_SLICE_REQUESTS_PER_S)


def smallest_fleet(
    model: LatencyModel,
    qps: float,
    p99_ms: float,
    start: int,
    seconds: float = 4.0,
    slice_qps: float = SLICE_REQUESTS_PER_S,
) -> int:
    """The fewest replicas whose simulated p99 is within ``p99_ms`` at ``qps``, searched around ``start`` (the
    profile's count: the answer is usually within a quarter of it, so the bracket starts there)."""

    def holds(n: int) -> bool:
        return p99_of(model, qps, n, seconds, slice_qps=slice_qps) <= p99_ms

    hi = lo = max(1, start)
    if holds(hi):
        while hi > 1:  # step down by a quarter until a count fails
            lo = max(1, hi * 3 // 4)
            if not holds(lo):
                break
            hi = lo
        else:
            return 1
    else:
        while not holds(hi):  # grow until it holds
            lo, hi = hi, hi * 2
            if hi > 1_000_000:
                raise ValueError("no fleet size holds the SLO: the latency without load is over it")
    while hi - lo > 1:  # lo fails, hi holds: bisect
        mid = (lo + hi) // 2
        if holds(mid):
            hi = mid
        else:
            lo = mid
    return hi
