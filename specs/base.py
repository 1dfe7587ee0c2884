"""Shared building blocks of every spec document: strict base model, metadata, node ids."""

from __future__ import annotations

import re
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

API_VERSION = "modelplane/v1"

KIND_ORDER = ("Dataset", "Feature", "Workflow", "Model", "Evaluation", "Stack", "Endpoint", "Service")
"""Kinds in the order data flows through them; reports list kinds in this order."""

KIND_MODULES = {
    "Dataset": "data",
    "Feature": "data",
    "Workflow": "data",
    "Model": "models",
    "Evaluation": "models",
    "Stack": "platform",
    "Endpoint": "serving",
    "Service": "platform",
}


def model_class(kind: str) -> type[BaseModel]:
    """The model of one kind, importing only its module (a warm run may need just one or two)."""
    import importlib

    cls: type[BaseModel] = getattr(importlib.import_module(f"modelplane.specs.{KIND_MODULES[kind]}"), kind)
    return cls


NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
NAME_RE = re.compile(NAME_PATTERN)

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""A node name: lower-case DNS label, so it can become a Kubernetes, Pulumi and Temporal id."""

LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_./-]{0,62})$")]


class StrictModel(BaseModel):
    """Base of every spec model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metadata(StrictModel):
    """Who owns a node and how people find it."""

    name: Name
    owner: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Team or person told when this node is affected by a change."
    )
    description: str = ""
    labels: dict[LabelKey, str] = Field(default_factory=dict)


class NodeId(NamedTuple):
    """Identity of a node: ``kind/name`` with the kind in lower case (``model/grammar-llm``)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> NodeId:
        kind, sep, name = text.partition("/")
        if not sep or not kind or not name:
            raise ValueError(f"expected `kind/name`, got {text!r}")
        return cls(kind.lower(), name)


ApiVersion = Literal["modelplane/v1"]
