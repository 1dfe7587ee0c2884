"""Spec language v1: the typed contract every other part of modelplane reads.

One pydantic model per kind, discriminated on ``kind``; references between
nodes are declared next to the fields that hold them (see ``refs``), so the
compiler can link and check them without knowing each kind by heart.
"""

from modelplane.specs.base import API_VERSION, Metadata, NodeId
from modelplane.specs.kinds import (
    KIND_MODELS,
    KINDS,
    AnySpec,
    Dataset,
    Endpoint,
    Evaluation,
    Feature,
    Model,
    Service,
    Stack,
    Workflow,
)

__all__ = [
    "API_VERSION",
    "KINDS",
    "KIND_MODELS",
    "AnySpec",
    "Dataset",
    "Endpoint",
    "Evaluation",
    "Feature",
    "Metadata",
    "Model",
    "NodeId",
    "Service",
    "Stack",
    "Workflow",
]
