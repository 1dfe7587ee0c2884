"""Typed views of the documents an apply carries: every runtime consumer reads these, never the YAML as written.

The documents in a plan are the compiler's normalized values (every default
filled in); validating them again into the spec models gives the same typed
meaning ``validate`` and ``plan`` gave them, so a field left out means its
model default here too. Pure pydantic, no I/O: the rollout workflow calls it
inside the Temporal sandbox (``modelplane`` and ``pydantic`` are passed through).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from modelplane.specs.base import model_class
from modelplane.specs.common import duration_seconds
from modelplane.specs.platform import Stack
from modelplane.specs.sample_size import window_requests
from modelplane.specs.serving import Endpoint, EndpointSpec, RolloutStep, WhenIdle

M = TypeVar("M", bound=BaseModel)


def typed(doc: dict[str, Any], cls: type[M] | None = None) -> Any:
    """The document validated into its kind's model (``cls`` checks the kind is the one expected)."""
    model = model_class(str(doc.get("kind", ""))).model_validate(doc)
    if cls is not None and not isinstance(model, cls):
        raise TypeError(f"expected a {cls.__name__} document, got {type(model).__name__}")
    return model


def spec_of(doc: dict[str, Any] | None) -> Any:
    """The typed ``spec`` of a document (any kind)."""
    if doc is None:
        raise ValueError("no document: the action carries none")
    return typed(doc).spec


def endpoint_spec(doc: dict[str, Any] | None) -> EndpointSpec:
    """An endpoint's typed spec (its model class directly: no dynamic import inside the workflow sandbox)."""
    if doc is None:
        raise ValueError("no endpoint document: the action carries none")
    return Endpoint.model_validate(doc).spec


def min_requests(spec: EndpointSpec) -> int:
    """Requests an analysis window needs: declared, or what the error budget needs (``specs.sample_size``)."""
    return window_requests(spec.rollout.analysis.min_requests, spec.slo.availability)


@dataclass(frozen=True)
class RolloutPolicy:
    """What an ``EndpointRollout`` does, read from the endpoint's typed spec (and its stack's provider)."""

    steps: tuple[RolloutStep, ...]
    window_s: float
    inconclusive_limit: int
    min_replicas: int
    """Replicas started for the new revision (at least one, also with ``min_replicas: 0``)."""
    max_replicas: int
    on_failure: Literal["rollback", "pause"]
    when_idle: WhenIdle
    need: int
    """Requests a window needs to decide (``analysis.min_requests`` or the error budget's)."""
    qps: float
    per_replica_qps: float | None
    failure_limit: int | None = None
    """Failed windows in a row a step tolerates; None: one re-check of a marginal failure."""
    progress_deadline_s: float = 1800.0
    """How long the canary may take to be ready, and a step's windows to reach a verdict."""

    def tolerates(self, failed: int, marginal: bool) -> bool:
        """Whether a step with ``failed`` failed windows in a row (the last ``marginal`` or not) looks again."""
        limit = self.failure_limit if self.failure_limit is not None else int(marginal)
        return failed <= limit

    def replicas_for(self, weight: int) -> int | None:
        """Canary replicas that carry ``weight``% of the declared peak; None without a measured capacity."""
        if not self.per_replica_qps:
            return None
        return max(self.min_replicas, math.ceil(weight / 100 * self.qps / self.per_replica_qps - 1e-9))

    def capacity_reason(self, weight: int, needed: int) -> str:
        fits = "" if needed <= self.max_replicas else f", but max_replicas is {self.max_replicas}"
        return (
            f"{weight}% of {self.qps:g} QPS at {self.per_replica_qps:g} QPS per replica needs {needed} "
            f"canary replica(s){fits}"
        )


def rollout_policy(doc: dict[str, Any] | None, context: dict[str, Any] | None = None) -> RolloutPolicy:
    spec = endpoint_spec(doc)
    r = spec.rollout
    stack = (context or {}).get(f"stack/{spec.stack}")
    provider = Stack.model_validate(stack).spec.provider if stack is not None else "local"
    return RolloutPolicy(
        steps=tuple(r.steps),
        window_s=duration_seconds(r.analysis.window),
        inconclusive_limit=r.analysis.inconclusive_limit,
        min_replicas=max(1, spec.autoscaling.min_replicas),
        max_replicas=spec.autoscaling.max_replicas,
        on_failure=r.on_failure,
        when_idle=r.analysis.idle_policy(provider),
        need=min_requests(spec),
        qps=spec.traffic.qps,
        per_replica_qps=spec.capacity.target_qps_per_replica,
        failure_limit=r.analysis.failure_limit,
        progress_deadline_s=duration_seconds(r.progress_deadline),
    )
