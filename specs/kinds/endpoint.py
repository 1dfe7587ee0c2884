"""The Endpoint kind: a model served on a stack, rolled out as a canary."""

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
    sends,
)


def _rolls_out(change: ChangeView) -> Category | None:
    """A changed (or deleted) endpoint rolls out; a new one is provisioned and rolled out by its plan actions."""
    return "rollout-required" if change.change != "create" else None


ENDPOINT = KindDecl(
    name=Kind.ENDPOINT,
    model="modelplane.specs.serving:Endpoint",
    references=(
        Reference("spec.model", ("model",), EdgeKind.SERVES),
        Reference("spec.stack", ("stack",), EdgeKind.HOSTS),
    ),
    impact=ImpactRules(
        own=sends("serving", on_create=True),
        receives={
            ("model", EdgeKind.SERVES): Rule("rollout-required", "{node} rolls out the new version", "serving"),
            ("stale", EdgeKind.SERVES): Rule(
                "notify", "{node} serves it (stale: nothing in this plan retrains the model)", "stale"
            ),
            ("serving", EdgeKind.HOSTS): Rule("notify", "{node} runs on the changed stack"),
            # no rule along `gates`: a blocking evaluation's re-run decides whether the endpoint may roll out,
            # but does not change what it serves (it is reached through `serves` when it does)
        },
        marks_itself=_rolls_out,
        rolls_out_retrained=True,
    ),
    diff=DiffRules(replace_on=("spec.stack",)),
    catalog=False,
    secrets=(SecretField(("engine", "extra_args"), "flags"),),
    graph=GraphShape(dot="box"),
    plan=PlanRules(on_change=("rollout",), on_delete=("decommission",), on_stack=True),
    lineage=LineageRole(job=("SERVICE", "ENDPOINT")),
)
