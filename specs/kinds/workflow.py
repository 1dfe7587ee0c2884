"""The Workflow kind: a job that reads datasets, features or models and writes (or trains) others."""

from __future__ import annotations

from modelplane.specs.enums import EdgeKind, Kind
from modelplane.specs.kinds.facets import (
    DiffRules,
    GraphShape,
    ImpactRules,
    KindDecl,
    LineageRole,
    PlanRules,
    Reference,
    Rule,
    SecretField,
    sends,
)

_RERUN = Rule("retrain-required", "{node} must re-run: an input changed", "data")
_PRODUCED = ("dataset", "feature", "model")

WORKFLOW = KindDecl(
    name=Kind.WORKFLOW,
    model="modelplane.specs.data:Workflow",
    references=(
        Reference("spec.inputs[*]", _PRODUCED, EdgeKind.INPUT),
        Reference("spec.outputs[*]", _PRODUCED, EdgeKind.OUTPUT),
    ),
    impact=ImpactRules(
        own=sends("data"),
        receives={
            ("schema", EdgeKind.INPUT): _RERUN,
            ("data", EdgeKind.INPUT): _RERUN,
            ("model", EdgeKind.INPUT): _RERUN,
        },
        switch="retrain_on_change",
    ),
    diff=DiffRules(),
    catalog=True,
    secrets=(SecretField(("command",), "command"),),
    graph=GraphShape(dot="cds"),
    plan=PlanRules(on_retrain="run-workflow"),
    lineage=LineageRole(job=("BATCH", "WORKFLOW")),
)
