"""Canary analysis: one window of canary (and stable) figures -> pass, fail or inconclusive, with the reason.

Gates, from the endpoint's spec, in this order:

- sample size: at least ``min_requests`` requests (real and synthetic) in the
  window, or the verdict is inconclusive (``specs.sample_size`` derives the
  default from the error budget);
- errors: a binomial test against the budget, not a bare ratio (one error in
  20 requests is not a 5% error rate worth a rollback at 99.9%): the canary
  fails with ``critical_errors(n, budget)`` errors or more;
- p99 under the SLO, and no slower than stable x ``max_p99_ratio_to_stable``
  (beyond a small absolute floor, so 3 ms of noise on a 30 ms p99 is not a
  regression). With ``latency_test: rank`` (the default) and the router's
  per-request latencies on both sides, that is a one-sided rank test over
  the window (``runtime.latency_test``): noise that slows both revisions
  alike cancels out. Otherwise (``p99_ratio``, or stats without samples, as
  Prometheus gives) the ratio of the p99s; a window of fewer than
  ``TAIL_MIN_REQUESTS`` requests on either side has no p99 worth comparing
  (the p99 of 22 requests is their slowest one), so there it compares medians;
- traffic share: the canary's share of *real* traffic is within
  ``share_tolerance`` of its weight beyond binomial noise. A balancer that
  sheds a slow or saturated canary's requests to stable hides it from every
  other gate; this one sees it. Synthetic requests are pinned to a revision,
  so they never count here.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel

from modelplane.runtime.latency_test import DECISIVE_P, MIN_SAMPLES, rank_test
from modelplane.runtime.typed import min_requests
from modelplane.specs.sample_size import critical_errors
from modelplane.specs.serving import EndpointSpec

NOISE_FLOOR_MS = 20.0
TAIL_MIN_REQUESTS = 100
"""Fewest requests on each side for the ratio gate to compare p99s: one request in 100 lies beyond the p99."""
SHARE_MIN_EXPECTED = 20
"""Below this many expected real canary requests the share gate does not judge (noise)."""


class StepVerdict(TypedDict):
    """One decision of a rollout step as the rollout records it (its output's ``analysis``, a rolled-back
    failure's details, the live status): a window's ``Verdict`` at its step and weight, or the capacity gate's
    (no figures), or a window's verdict overridden by ``when_idle`` or an approval. A dict on the wire, in this
    key order (what histories and the state store hold); typed here so the workflow reads keys mypy checks."""

    step: int
    weight: int
    result: Literal["pass", "fail", "inconclusive"]
    reason: str
    gate: str
    canary: NotRequired[dict[str, Any] | None]
    stable: NotRequired[dict[str, Any] | None]
    marginal: NotRequired[bool]


class Verdict(BaseModel):
    result: Literal["pass", "fail", "inconclusive"]
    reason: str
    canary: dict[str, Any]
    stable: dict[str, Any] | None = None
    gate: str = "analysis"
    """Which gate decided: sample, errors, p99, ratio, rank, share, capacity, idle, analysis (all passed)."""
    marginal: bool = False
    """A failure near its threshold (``failure_limit``'s default re-checks it with another window)."""

    def figures(self) -> dict[str, Any]:
        """The verdict as a rollout records it: without the per-request latencies it was judged on."""
        return {**self.model_dump(), "canary": _summary(self.canary), "stable": _summary(self.stable)}

    def at(self, step: int, weight: int, *, summary: bool = False) -> StepVerdict:
        """The verdict recorded at ``step`` (``weight`` %); ``summary``: without per-request latencies."""
        canary, stable = (_summary(self.canary), _summary(self.stable)) if summary else (self.canary, self.stable)
        return {
            "step": step,
            "weight": weight,
            "result": self.result,
            "reason": self.reason,
            "canary": canary,
            "stable": stable,
            "gate": self.gate,
            "marginal": self.marginal,
        }


SAMPLES = "latencies_ms"
"""The key of a side's per-request latencies (successful requests, ms) in the router's window stats."""


def _summary(side: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if side is None else {k: v for k, v in side.items() if k != SAMPLES}


def _counts(n: int, synthetic: int) -> str:
    return f"{n} requests ({synthetic} synthetic)" if synthetic else f"{n} requests"


def judge(
    spec: EndpointSpec,
    canary: dict[str, Any],
    stable: dict[str, Any] | None,
    weight: int | None = None,
    tests: bool = False,
) -> Verdict:
    """``spec`` is the endpoint's typed spec, so a gate left out of the YAML is its model default.

    ``tests``: the latency gate as ``analysis.latency_test`` says (the rank test) and verdicts that say whether
    a failure is marginal; without it, the ratio gate as rollouts recorded before it judged (replay)."""
    slo = spec.slo
    analysis = spec.rollout.analysis
    ratio = analysis.max_p99_ratio_to_stable
    need = min_requests(spec)
    n = int(canary.get("requests", 0))
    synthetic = int(canary.get("synthetic", 0))

    def verdict(
        result: Literal["pass", "fail", "inconclusive"], gate: str, reason: str, marginal: bool = False
    ) -> Verdict:
        return Verdict(
            result=result,
            gate=gate,
            reason=reason,
            canary=canary if not tests else _summary(canary) or {},
            stable=stable if not tests else _summary(stable),
            marginal=marginal and tests,
        )

    budget = 1 - slo.availability
    errors = int(canary.get("errors", 0))
    critical = critical_errors(n, budget) if n else 1
    if n and errors >= critical:  # the test holds at any n: 40 errors in 40 requests fail, sample or not
        return verdict(
            "fail",
            "errors",
            f"{errors} errors in {_counts(n, synthetic)} ({errors / n:.2%}), over the {budget:.2%} error budget "
            f"(a canary within it shows {critical} or more in {n} requests under 5% of the time)",
            marginal=errors < 2 * critical,
        )
    if n < need:
        return verdict("inconclusive", "sample", f"{n} canary requests in the window, need {need}")
    p99 = canary.get("p99_ms")
    if p99 is not None and p99 > slo.p99_latency_ms:
        return verdict(
            "fail",
            "p99",
            f"p99 {p99:.0f} ms over the SLO {slo.p99_latency_ms:g} ms, over {_counts(n, synthetic)}",
            marginal=p99 <= 1.25 * slo.p99_latency_ms,
        )
    enough_stable = int((stable or {}).get("requests", 0)) >= min(need, 10)
    samples = (canary.get(SAMPLES) or [], (stable or {}).get(SAMPLES) or [])
    if tests and analysis.latency_test == "rank" and min(len(samples[0]), len(samples[1])) >= MIN_SAMPLES:
        r = rank_test(list(samples[0]), list(samples[1]), ratio, NOISE_FLOOR_MS)
        test = r.describe(ratio, NOISE_FLOOR_MS)
        if r.p < analysis.significance:
            return verdict("fail", "rank", f"slower than stable: {test}", marginal=r.p >= DECISIVE_P)
    else:
        test = "no latency test (no stable window to compare)"
        slower = slower_than_stable(canary, stable, ratio) if enough_stable else None
        if slower is not None:
            return verdict("fail", "ratio", f"{slower}, over {_counts(n, synthetic)}", marginal=True)
        if enough_stable and stable is not None:
            test = f"p99 ratio test: at most {ratio:g}x stable's (+{NOISE_FLOOR_MS:g} ms)"
    share = share_verdict(canary, stable, weight, analysis.share_tolerance)
    if share is not None:
        return verdict("fail", "share", share)
    if tests:  # the counts (requests, errors, p99) are the verdict's figures: the reason says the test
        return verdict("pass", "analysis", f"not slower than stable: {test}; {n} of {need} requests needed")
    return verdict(
        "pass", "analysis", f"p99 {p99} ms, {errors} errors in {_counts(n, synthetic)}, need {need} requests"
    )


def slower_than_stable(canary: dict[str, Any], stable: dict[str, Any] | None, ratio: float) -> str | None:
    """Why the canary is slower than stable x ``ratio`` beyond the noise floor, or None.

    p99s when both windows hold ``TAIL_MIN_REQUESTS`` requests; medians otherwise (see the module doc).
    """
    if stable is None:
        return None
    tail = min(int(canary.get("requests", 0)), int(stable.get("requests", 0))) >= TAIL_MIN_REQUESTS
    key = "p99" if tail else "p50"
    mine, base = canary.get(f"{key}_ms"), stable.get(f"{key}_ms")
    if mine is None or base is None or mine <= base * ratio or mine - base <= NOISE_FLOOR_MS:
        return None
    why = "" if tail else f"; medians, as under {TAIL_MIN_REQUESTS} requests a p99 is the slowest one"
    return f"{key} {mine:.0f} ms is {mine / max(base, 1e-9):.1f}x stable's {base:.0f} ms (limit {ratio}x{why})"


def share_verdict(
    canary: dict[str, Any], stable: dict[str, Any] | None, weight: int | None, tolerance: float
) -> str | None:
    """Why the canary's share of real traffic is too far below its weight, or None when it is not (or unknown).

    Fails when the shortfall is over ``tolerance`` of the expected count *and*
    over three standard deviations of a binomial split, so a fair balancer at
    a few hundred requests never trips it.
    """
    if weight is None or not 0 < weight < 100 or stable is None:
        return None
    real_canary = int(canary.get("real", canary.get("requests", 0)))
    real_stable = int(stable.get("real", stable.get("requests", 0)))
    total = real_canary + real_stable
    w = weight / 100
    expected = total * w
    if expected < SHARE_MIN_EXPECTED:
        return None
    shortfall = expected - real_canary
    if shortfall <= max(tolerance * expected, 3 * math.sqrt(total * w * (1 - w))):
        return None
    return (
        f"the canary served {real_canary / total:.1%} of {total} real requests at weight {weight}% "
        f"(at least {w * (1 - tolerance):.1%} expected): the balancer is moving its traffic to stable "
        "(saturated, ejected or unhealthy canary replicas)"
    )
