"""Canary analysis: one window of canary (and stable) figures -> pass, fail or inconclusive, with the reason.

Gates, from the endpoint's spec: p99 under the SLO; p99 no worse than stable x
``max_p99_ratio_to_stable`` (beyond a small absolute floor, so 3 ms of noise on a
30 ms p99 is not a regression); error rate within the availability budget; and
at least ``min_requests`` requests in the window, or the verdict is
inconclusive.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from modelplane.specs.serving import EndpointSpec
from pydantic import BaseModel

NOISE_FLOOR_MS = 20.0


class Verdict(BaseModel):
    result: Literal["pass", "fail", "inconclusive"]
    reason: str
    canary: dict[str, Any]
    stable: dict[str, Any] | None = None


def min_requests(spec: EndpointSpec) -> int:
    declared = spec.rollout.analysis.min_requests
    if declared is not None:
        return declared
    return math.ceil(10 / (1 - spec.slo.availability))


def judge(spec: EndpointSpec, canary: dict[str, Any], stable: dict[str, Any] | None) -> Verdict:
    """``spec`` is the endpoint's typed spec, so a gate left out of the YAML is its model default."""
    slo = spec.slo
    ratio = spec.rollout.analysis.max_p99_ratio_to_stable
    need = min_requests(spec)
    n = int(canary.get("requests", 0))
    if n < need:
        return Verdict(
            result="inconclusive",
            reason=f"{n} canary requests in the window, need {need}",
            canary=canary,
            stable=stable,
        )
    budget = 1 - slo.availability
    rate = float(canary.get("error_rate", 0.0))
    if rate > budget:
        return Verdict(
            result="fail",
            reason=f"error rate {rate:.2%} over the budget {budget:.2%} "
            f"({canary.get('errors')} of {n} requests failed)",
            canary=canary,
            stable=stable,
        )
    p99 = canary.get("p99_ms")
    if p99 is not None and p99 > slo.p99_latency_ms:
        return Verdict(
            result="fail",
            reason=f"p99 {p99:.0f} ms over the SLO {slo.p99_latency_ms:g} ms",
            canary=canary,
            stable=stable,
        )
    base = (stable or {}).get("p99_ms")
    enough_stable = int((stable or {}).get("requests", 0)) >= min(need, 10)
    if p99 is not None and base is not None and enough_stable and p99 > base * ratio and p99 - base > NOISE_FLOOR_MS:
        return Verdict(
            result="fail",
            reason=f"p99 {p99:.0f} ms is {p99 / base:.1f}x stable's {base:.0f} ms (limit {ratio}x)",
            canary=canary,
            stable=stable,
        )
    return Verdict(
        result="pass", reason=f"p99 {p99} ms, error rate {rate:.2%} over {n} requests", canary=canary, stable=stable
    )
