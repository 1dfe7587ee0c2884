"""The canary's latency gate as a test: is the canary slower than stable by more than the tolerated margin?

A ratio of two p99s from one window flips with noise: on a busy machine one
scheduler hiccup is the p99 of a few hundred requests, and an identical canary
was rolled back at "1.4x stable". Both revisions serve in the same window,
interleaved, so whatever slows the machine slows both; a *rank* test over
every successful request's latency uses that: it asks whether a canary
request is more often slower than a stable one than not, and noise common to
both cancels out.

The test is a one-sided Mann-Whitney U (Wilcoxon rank-sum) test of the
canary's latencies against stable's *shifted by the margin* the spec
tolerates (each stable latency ``y`` becomes ``max(y x ratio, y + floor)``).
The null hypothesis is "the canary is no slower than stable x ratio"; it is
rejected (the canary fails) when its p-value is under ``alpha``. So an A/A
canary, a margin away from the null, fails with a probability far below
``alpha``, while a canary 1.5x slower than stable rejects at any realistic
sample size (``tests/runtime/test_latency_test.py`` measures both).

Normal approximation with the tie correction and a continuity correction;
exact enough from about 8 samples a side (``MIN_SAMPLES``). Pure arithmetic
(the rollout workflow calls it inside Temporal's sandbox).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_SAMPLES = 8
"""Fewest successful requests a side for the rank test; below it the gate falls back to the medians' ratio."""
DECISIVE_P = 1e-4
"""A failing p-value under this is decisive; between it and ``alpha`` the failure is marginal (re-checked)."""


@dataclass(frozen=True)
class RankResult:
    p: float
    """One-sided p-value of 'the canary is no slower than stable x ratio'."""
    z: float
    slower_share: float
    """U / (n m): the share of (canary, shifted stable) pairs in which the canary is slower (0.5: alike)."""
    n: int
    m: int
    canary_median: float
    stable_median: float

    def describe(self, ratio: float, floor: float) -> str:
        return (
            f"rank test (one-sided Mann-Whitney U) of {self.n} canary vs {self.m} stable latencies against "
            f"stable x {ratio:g} (+{floor:g} ms at least): p = {self.p:.2g}, z = {self.z:.2f}, canary slower in "
            f"{self.slower_share:.0%} of pairs; medians {self.canary_median:.0f} vs {self.stable_median:.0f} ms"
        )


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    k = len(s)
    return (s[(k - 1) // 2] + s[k // 2]) / 2 if k else 0.0


def rank_test(canary: list[float], stable: list[float], ratio: float, floor: float) -> RankResult:
    """Test the canary's latencies against stable's shifted by the margin (``ratio``, at least ``floor`` ms)."""
    shifted = [max(y * ratio, y + floor) for y in stable]
    n, m = len(canary), len(shifted)
    merged = sorted([(x, 0) for x in canary] + [(y, 1) for y in shifted])
    total = n + m
    rank_sum = 0.0  # of the canary's values, ties given their average rank
    ties = 0.0
    i = 0
    while i < total:
        j = i
        while j + 1 < total and merged[j + 1][0] == merged[i][0]:
            j += 1
        avg = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        rank_sum += avg * sum(1 for k in range(i, j + 1) if merged[k][1] == 0)
        i = j + 1
    u = rank_sum - n * (n + 1) / 2
    mean = n * m / 2
    var = n * m / 12 * ((total + 1) - ties / (total * (total - 1))) if total > 1 else 0.0
    if var <= 0:  # every value equal: nothing says the canary is slower
        z, p = 0.0, 0.5
    else:
        z = (u - mean - 0.5) / math.sqrt(var)
        p = 0.5 * math.erfc(z / math.sqrt(2))
    return RankResult(
        p=p,
        z=z,
        slower_share=u / (n * m) if n and m else 0.5,
        n=n,
        m=m,
        canary_median=_median(canary),
        stable_median=_median(stable),
    )
