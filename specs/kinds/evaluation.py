"""The Evaluation kind: a model judged on a dataset; a blocking one gates the endpoints serving the model."""

from __future__ import annotations

from modelplane.specs.enums import EdgeKind, Kind
from modelplane.specs.kinds.facets import (
    Category,
    ChangeView,
    DiffRules,
    GraphShape,
    ImpactRules,
    KindDecl,
    LineageRole,
    PlanRules,
    Reference,
    Rule,
    SecretField,
    no_signals,
)

_ON_DATA = Rule("re-evaluate-required", "{node} evaluates on changed data")


def _reruns(change: ChangeView) -> Category | None:
    """An updated evaluation re-runs (a new one runs as its plan action; a deleted one is gone)."""
    return "re-evaluate-required" if change.change == "update" else None


EVALUATION = KindDecl(
    name=Kind.EVALUATION,
    model="modelplane.specs.models:Evaluation",
    references=(
        Reference("spec.model", ("model",), EdgeKind.EVALUATES),
        Reference("spec.dataset", ("dataset",), EdgeKind.EVALUATES_ON),
    ),
    impact=ImpactRules(
        own=no_signals,
        receives={
            ("schema", EdgeKind.EVALUATES_ON): _ON_DATA,
            ("data", EdgeKind.EVALUATES_ON): _ON_DATA,
            ("model", EdgeKind.EVALUATES): Rule("re-evaluate-required", "{node} must re-run for the new model version"),
            ("stale", EdgeKind.EVALUATES): Rule(
                "re-evaluate-required", "{node} must re-run once the model is retrained"
            ),
        },
        marks_itself=_reruns,
    ),
    diff=DiffRules(),
    catalog=True,
    secrets=(SecretField(("command",), "command"),),
    graph=GraphShape(dot="diamond"),
    plan=PlanRules(on_change=("evaluate",)),
    lineage=LineageRole(job=("BATCH", "EVALUATION")),
)
