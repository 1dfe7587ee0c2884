"""The load search of ``modelplane bench``: the highest per-replica rate whose p99 stays within the SLO.

Pure decisions, so they are tested without a server: ``verdict`` judges one probe (its p99's
upper 95% confidence bound within the SLO, errors within the error budget, throughput keeping
up with the offered rate), ``Search`` proposes the next rate (doubling until a probe fails, then
bisecting to the precision asked) and stops at the probe budget, and ``capacity_of`` turns the
probes into the capacity with its interval: the highest passing rate and the lowest failing one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from modelplane.compiler.capacity.profile import CapacityAtSlo, Percentiles, Probe

MAX_PROBES = 25
KEEP_UP = 0.9
"""A probe whose throughput is under 90% of the offered rate is saturated, whatever its latency."""


def quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def upper_bound_rank(n: int, q: float = 0.99, confidence: float = 0.95) -> int:
    """The 0-based rank of the order statistic that bounds the ``q`` quantile from above with ``confidence``
    (the binomial rule, with the normal approximation): with fewer samples the bound is the slowest one."""
    mean = n * q
    sd = math.sqrt(n * q * (1 - q))
    z = 1.645 if confidence == 0.95 else 2.326
    return min(n - 1, math.ceil(mean + z * sd))


def percentiles(xs: list[float]) -> Percentiles:
    return Percentiles(p50=quantile(xs, 0.5), p90=quantile(xs, 0.9), p99=quantile(xs, 0.99))


@dataclass
class Samples:
    """What one probe measured (milliseconds; TTFT and inter-token gaps where the answer streamed)."""

    offered_qps: float
    duration_s: float
    e2e_ms: list[float]
    ttft_ms: list[float] = field(default_factory=list)
    itl_ms: list[float] = field(default_factory=list)
    errors: int = 0


def verdict(s: Samples, p99_slo_ms: float, error_budget: float, ttft_slo_ms: float | None = None) -> Probe:
    """One probe judged: the p99's upper confidence bound within the SLO, errors within the budget, and the
    replica keeping up (throughput at least 90% of the offered rate)."""
    n = len(s.e2e_ms)
    total = n + s.errors
    throughput = n / s.duration_s if s.duration_s > 0 else 0.0
    ok = n > 0
    if ok:
        bound = sorted(s.e2e_ms)[upper_bound_rank(n)]
        ok = bound <= p99_slo_ms
    if ok and ttft_slo_ms is not None and s.ttft_ms:
        ok = sorted(s.ttft_ms)[upper_bound_rank(len(s.ttft_ms))] <= ttft_slo_ms
    if ok and total:
        ok = s.errors / total <= error_budget
    if ok:
        ok = throughput >= KEEP_UP * s.offered_qps
    mean_e2e = sum(s.e2e_ms) / n / 1000 if n else 0.0
    # the rate the replica was asked to hold: a probe's realized arrivals wander around it (a short Poisson
    # window), and a capacity read from them would carry that luck into the plan
    rate = min(throughput, s.offered_qps) if s.offered_qps > 0 else throughput
    return Probe(
        offered_qps=round(s.offered_qps, 3),
        duration_s=round(s.duration_s, 3),
        requests=total,
        errors=s.errors,
        throughput_qps=round(throughput, 3),
        in_flight=round(rate * mean_e2e, 3),  # Little's law: what the replica held on average
        ttft_ms=percentiles(s.ttft_ms),
        itl_ms=percentiles(s.itl_ms),
        e2e_ms=percentiles(s.e2e_ms),
        meets_slo=ok,
    )


@dataclass
class Search:
    """Doubling from ``start`` until a probe fails, then bisecting until the bracket is within ``precision``."""

    start: float
    precision: float = 0.05
    max_probes: int = MAX_PROBES
    probes: list[Probe] = field(default_factory=list)

    def passing(self) -> list[Probe]:
        return [p for p in self.probes if p.meets_slo]

    def bracket(self) -> tuple[float | None, float | None]:
        ok = [p.offered_qps or 0.0 for p in self.probes if p.meets_slo]
        bad = [p.offered_qps or 0.0 for p in self.probes if not p.meets_slo]
        lo = max(ok) if ok else None
        hi = min((b for b in bad if lo is None or b > lo), default=None)
        return lo, hi

    def next_rate(self) -> float | None:
        """The next rate to offer, or None when the search is done."""
        if len(self.probes) >= self.max_probes:
            return None
        if not self.probes:
            return self.start
        lo, hi = self.bracket()
        if hi is None:  # nothing failed above the best pass yet: double
            return (lo or self.start) * 2
        if lo is None:  # the first rate failed: halve until one passes
            smallest = min(p.offered_qps or 0.0 for p in self.probes)
            return smallest / 2 if smallest / 2 >= 0.05 else None
        if (hi - lo) / lo <= self.precision:
            return None
        return (lo + hi) / 2


def capacity_of(probes: list[Probe], p99_slo_ms: float, ttft_slo_ms: float | None = None) -> CapacityAtSlo | None:
    """The capacity at the SLO: the best passing probe's throughput, between the highest passing and the lowest
    failing offered rates (the interval within which the true boundary lies, each verdict at 95%)."""
    ok = [p for p in probes if p.meets_slo]
    if not ok:
        return None

    def held(p: Probe) -> float:
        """What a passing probe shows the replica holds: the offered rate (an open-loop probe's arrivals are
        that rate's luck), or the throughput where a closed loop offered none; never more than it completed."""
        return min(p.throughput_qps, p.offered_qps) if p.offered_qps else p.throughput_qps

    best = max(ok, key=held)
    lo = max(p.offered_qps or 0.0 for p in ok)
    failing = [p.offered_qps or 0.0 for p in probes if not p.meets_slo and (p.offered_qps or 0.0) > lo]
    hi = min(failing) if failing else lo
    return CapacityAtSlo(
        qps_per_replica=held(best),
        low=min(held(best), lo) if lo else held(best),
        high=max(hi, held(best)),
        confidence=0.95,
        in_flight_per_replica=max(best.in_flight or 0.0, 0.001),
        p99_latency_ms=p99_slo_ms,
        ttft_p99_ms=ttft_slo_ms,
    )
