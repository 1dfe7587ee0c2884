"""The Service kind: an application that consumes endpoints, models, features or datasets; its owner is told."""

from __future__ import annotations

from modelplane.specs.enums import EdgeKind, Kind
from modelplane.specs.kinds.facets import (
    SIGNALS,
    DiffRules,
    GraphShape,
    ImpactRules,
    KindDecl,
    LineageRole,
    Reference,
    Rule,
    no_signals,
)

_CONSUMES = Rule("notify", "{node} (tier {tier}) consumes it")

SERVICE = KindDecl(
    name=Kind.SERVICE,
    model="modelplane.specs.platform:Service",
    references=(Reference("spec.consumes[*]", ("endpoint", "model", "feature", "dataset"), EdgeKind.CONSUMES),),
    impact=ImpactRules(own=no_signals, receives={(s, EdgeKind.CONSUMES): _CONSUMES for s in SIGNALS}),
    diff=DiffRules(),
    catalog=True,
    secrets=(),
    graph=GraphShape(dot="ellipse"),
    tier="tier",
    lineage=LineageRole(job=("SERVICE", "SERVICE")),
)
