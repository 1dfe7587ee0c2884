"""Typed views of the documents an apply carries: every runtime consumer reads these, never the YAML as written.

The documents in a plan are the compiler's normalized values (every default
filled in); validating them again into the spec models gives the same typed
meaning ``validate`` and ``plan`` gave them, so a field left out means its
model default here too. Pure pydantic, no I/O: the rollout workflow calls it
inside the Temporal sandbox (``modelplane`` and ``pydantic`` are passed through).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from modelplane.specs.base import model_class
from modelplane.specs.common import duration_seconds
from modelplane.specs.serving import Endpoint, EndpointSpec, RolloutStep
from pydantic import BaseModel

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


@dataclass(frozen=True)
class RolloutPolicy:
    """What an ``EndpointRollout`` does, read from the endpoint's typed spec."""

    steps: tuple[RolloutStep, ...]
    window_s: float
    inconclusive_limit: int
    min_replicas: int
    """Replicas started for the new revision (at least one, also with ``min_replicas: 0``)."""
    on_failure: Literal["rollback", "pause"]


def rollout_policy(doc: dict[str, Any] | None) -> RolloutPolicy:
    spec = endpoint_spec(doc)
    r = spec.rollout
    return RolloutPolicy(
        steps=tuple(r.steps),
        window_s=duration_seconds(r.analysis.window),
        inconclusive_limit=r.analysis.inconclusive_limit,
        min_replicas=max(1, spec.autoscaling.min_replicas),
        on_failure=r.on_failure,
    )
