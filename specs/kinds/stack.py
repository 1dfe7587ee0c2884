"""The Stack kind: where endpoints run (the local stack, a Kubernetes cluster, EKS, GKE)."""

from __future__ import annotations

from modelplane.specs.enums import Kind
from modelplane.specs.kinds.facets import DiffRules, GraphShape, ImpactRules, KindDecl, PlanRules, SecretField, sends

STACK = KindDecl(
    name=Kind.STACK,
    model="modelplane.specs.platform:Stack",
    references=(),
    impact=ImpactRules(own=sends("serving"), receives={}),
    diff=DiffRules(replace_on=("spec.provider", "spec.region")),
    catalog=False,
    # settings other tools read may hold a reference; the Pulumi backend's URL is only scanned for credentials
    secrets=(SecretField(("settings",), "tree"), SecretField(("pulumi", "backend_url"), "value", references=False)),
    graph=GraphShape(dot="folder"),
    plan=PlanRules(on_change=("provision",), on_delete=("decommission",)),
)
