"""How many requests a canary window needs to tell a bad canary from a good one, from the SLO's error budget.

The error gate is a one-sided binomial test. With ``n`` requests in a window
and the error budget ``b = 1 - availability``, the canary fails when it shows
``critical_errors(n, b)`` errors or more: the smallest count a canary that
keeps its budget reaches at most ``FALSE_FAIL`` (5%) of the time. The default
``min_requests`` is the smallest ``n`` at which that test also catches a canary
burning the budget ``BAD_RATIO`` (10) times over in at least ``POWER`` (80%)
of its windows. For availability 0.999 that is 299 requests (2 errors fail
them); 0.99 is 29; 0.9999 is 2,994. Fewer than that and a window cannot decide: it is
inconclusive, and the rollout's ``when_idle`` policy applies.

Pure arithmetic (no I/O, no clock): the compiler's feasibility check and the
rollout workflow (inside Temporal's sandbox) call the same functions.
"""

from __future__ import annotations

import math
from functools import lru_cache

FALSE_FAIL = 0.05
"""At most this share of a good canary's windows fail the error gate."""
POWER = 0.8
"""At least this share of a bad canary's windows fail it."""
BAD_RATIO = 10.0
"""A bad canary burns the error budget this many times over (a fast burn, as SRE alerting counts it)."""
MAX_N = 10_000_000


def _tail(n: int, p: float, c: int) -> float:
    """P(X >= c) for X ~ Binomial(n, p), summed in log space (n up to millions)."""
    if c <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0 if c <= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    below = 0.0
    for k in range(min(c, n + 1)):
        below += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq)
    return max(0.0, 1.0 - below)


def critical_errors(n: int, budget: float) -> int:
    """The fewest errors in ``n`` requests that fail the gate: a canary within ``budget`` reaches it < 5%.

    One pass over the pmf by its recurrence (O(c), also for millions of requests: it runs in the workflow)."""
    if budget <= 0.0:
        return 1
    if budget >= 1.0:
        return n + 1
    log_pmf = n * math.log1p(-budget)  # P(X = 0)
    ratio = math.log(budget) - math.log1p(-budget)
    below = 0.0
    for k in range(n + 1):
        below += math.exp(log_pmf)
        if 1.0 - below <= FALSE_FAIL:
            return max(1, k + 1)
        log_pmf += math.log(n - k) - math.log(k + 1) + ratio
    return n + 1


@lru_cache(maxsize=256)
def default_min_requests(availability: float) -> int:
    """The smallest window that both keeps a good canary and catches one at ``BAD_RATIO`` x the budget."""
    budget = 1.0 - availability
    bad = min(1.0, BAD_RATIO * budget)

    def decides(n: int) -> bool:
        return _tail(n, bad, critical_errors(n, budget)) >= POWER

    # the power is a sawtooth in n (the critical count steps up), so the first n that decides is found by a scan
    # no n below this sees even one error from the bad canary often enough
    n = 1 if bad >= 1.0 else max(1, math.floor(math.log(1.0 - POWER) / math.log1p(-bad)))
    while not decides(n):
        if n >= MAX_N:
            return MAX_N
        n += 1
    return n


def window_requests(declared: int | None, availability: float) -> int:
    """Requests an analysis window needs to decide: ``analysis.min_requests`` where declared, else what the
    error budget needs (``default_min_requests``). The one rule: the compiler's feasibility check and the
    rollout's analysis both call it."""
    return declared if declared is not None else default_min_requests(availability)
