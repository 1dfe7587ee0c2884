"""Envoy's route and per-try timeouts for an endpoint, derived from its SLO and token shape.

The rule (docs/stacks.md, docs/serving-kubernetes.md):

- the SLO's p99 ``T`` is for a request of the declared shape, ``traffic.output_tokens`` = ``n``; decode time
  grows with output tokens, so ``T`` is a first-token time ``F`` (``slo.ttft_p99_ms``, 0 when not given) plus
  ``n`` tokens at the p99 pace ``(T - F) / n``;
- **per try**: ``F + TOKEN_HEADROOM x n x (T - F) / n`` = ``F + 2(T - F)``: a try is cut only once it has run
  for as long as a request of twice the declared output tokens takes at the p99 pace, i.e. when it is a
  straggler and not a long request the SLO allows. (The old fixed 1 s cut every request of an endpoint with a
  3 s p99 above 1 s, retried it and answered 504.)
- **route** (all tries together): ``(max_retries + 1) x per_try + max_retries x 250 ms`` (Envoy's largest
  back-off between tries), so every retry the policy allows can run to its own per-try timeout.

An explicit ``routing.retries.per_try_timeout_ms`` or ``routing.timeout_ms`` is used as written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelplane.specs.serving import EndpointSpec

TOKEN_HEADROOM = 2
"""A try may produce this many times the declared output tokens at the p99 pace before it is cut."""
ENVOY_MAX_BACKOFF_MS = 250
"""Envoy's default retry back-off: base 25 ms, at most 10 x base between two tries."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    per_try_ms: int
    route_ms: int
    derived: bool
    """True when both come from the rule (nothing written in the spec)."""


def per_try_ms(spec: EndpointSpec) -> int:
    written = spec.routing.retries.per_try_timeout_ms
    if written is not None:
        return written
    total = spec.slo.p99_latency_ms
    first = min(total, spec.slo.ttft_p99_ms or 0.0)
    tokens = spec.traffic.output_tokens
    pace = (total - first) / tokens  # ms per output token at the p99
    return math.ceil(round(first + TOKEN_HEADROOM * tokens * pace, 3))  # round: 2 x 30 x (500 / 30) is 1000, not 1001


def timeouts(spec: EndpointSpec) -> Timeouts:
    per_try = per_try_ms(spec)
    retries = spec.routing.retries.max_retries
    route = spec.routing.timeout_ms
    if route is None:
        route = (retries + 1) * per_try + retries * ENVOY_MAX_BACKOFF_MS
    derived = spec.routing.timeout_ms is None and spec.routing.retries.per_try_timeout_ms is None
    return Timeouts(per_try, route, derived)
