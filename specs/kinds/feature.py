"""The Feature kind: columns computed from datasets (column-level lineage: it names the columns it reads)."""

from __future__ import annotations

from modelplane.specs.enums import EdgeKind, Kind
from modelplane.specs.kinds.facets import (
    DiffRules,
    GraphShape,
    ImpactRules,
    KindDecl,
    LineageRole,
    Reference,
    Rule,
    columnar_signals,
)

_COMPUTED = Rule("notify", "{node} is computed from changed data", "data")

FEATURE = KindDecl(
    name=Kind.FEATURE,
    model="modelplane.specs.data:Feature",
    references=(Reference("spec.inputs[*].dataset", ("dataset",), EdgeKind.READS),),
    impact=ImpactRules(
        own=columnar_signals,
        receives={("data", EdgeKind.READS): _COMPUTED, ("data", EdgeKind.OUTPUT): _COMPUTED},
        column_level=True,
    ),
    diff=DiffRules(columns=("columns",)),
    catalog=True,
    secrets=(),
    graph=GraphShape(dot="component"),
    lineage=LineageRole(dataset_type="TABLE"),
)
