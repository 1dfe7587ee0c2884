"""The Dataset kind: a table or files with a column schema, possibly derived from other datasets."""

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
    columnar_signals,
)

_DERIVED = Rule("notify", "{node} is derived from changed data", "data")


def _breaking(before: dict[str, Any], after: dict[str, Any], paths: set[str]) -> list[str]:
    return ["format changed"] if "spec.format" in paths else []


DATASET = KindDecl(
    name=Kind.DATASET,
    model="modelplane.specs.data:Dataset",
    references=(Reference("spec.derived_from[*]", ("dataset",), EdgeKind.DERIVES),),
    impact=ImpactRules(
        own=columnar_signals,
        receives={
            ("schema", EdgeKind.DERIVES): _DERIVED,
            ("data", EdgeKind.DERIVES): _DERIVED,
            ("data", EdgeKind.OUTPUT): _DERIVED,
        },
    ),
    diff=DiffRules(replace_on=("spec.format",), columns=("schema", "columns"), breaking=_breaking),
    catalog=True,
    secrets=(SecretField(("uri",), "value"),),
    graph=GraphShape(dot="cylinder"),
    lineage=LineageRole(dataset_type="FILE"),
)
