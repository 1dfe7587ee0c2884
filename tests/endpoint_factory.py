"""A minimal valid Endpoint spec for unit tests of the gates, the router render and the policies."""

from __future__ import annotations

from typing import Any

from modelplane.specs.serving import EndpointSpec


def endpoint_spec(**over: Any) -> EndpointSpec:
    """L4, 10 QPS, p99 under 1 s at 0.999, 1..4 replicas; ``over`` replaces whole top-level fields."""
    base = {
        "model": "m",
        "stack": "s",
        "resources": {"accelerator": "L4"},
        "traffic": {"qps": 10},
        "slo": {"p99_latency_ms": 1000, "availability": 0.999},
        "autoscaling": {"min_replicas": 1, "max_replicas": 4},
    }
    return EndpointSpec.model_validate({**base, **over})
