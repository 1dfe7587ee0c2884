"""The Model kind: a versioned model, trained on datasets and features (by a workflow, or elsewhere)."""

from __future__ import annotations

from typing import Any

from modelplane.specs.enums import EdgeKind, Kind
from modelplane.specs.kinds.facets import (
    DiffRules,
    GraphShape,
    ImpactRules,
    KindDecl,
    LineageRole,
    Reference,
    Rule,
    SecretField,
    sends,
)

_STALE = Rule("retrain-required", "{node} is stale: trained on changed data", "stale")


def _breaking(before: dict[str, Any], after: dict[str, Any], paths: set[str]) -> list[str]:
    old_ctx, new_ctx = before["spec"]["context_length"], after["spec"]["context_length"]
    return [f"context_length shrank {old_ctx} -> {new_ctx}"] if new_ctx < old_ctx else []


MODEL = KindDecl(
    name=Kind.MODEL,
    model="modelplane.specs.models:Model",
    references=(
        Reference("spec.trained_on.datasets[*]", ("dataset",), EdgeKind.TRAINED_ON),
        Reference("spec.trained_on.features[*]", ("feature",), EdgeKind.TRAINED_ON),
        Reference("spec.trained_on.workflow", ("workflow",), EdgeKind.PRODUCES),
    ),
    impact=ImpactRules(
        own=sends("model"),
        receives={
            ("data", EdgeKind.OUTPUT): _STALE,
            ("data", EdgeKind.PRODUCES): _STALE,
            ("schema", EdgeKind.TRAINED_ON): _STALE,
            ("data", EdgeKind.TRAINED_ON): _STALE,
        },
        retrains=True,
    ),
    diff=DiffRules(breaking=_breaking),
    catalog=True,
    secrets=(SecretField(("artifact",), "value"),),
    graph=GraphShape(dot="box3d"),
    lineage=LineageRole(dataset_type="MODEL"),
)
