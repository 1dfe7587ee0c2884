"""Trained artifacts in the plan: which weights an endpoint's revision serves when a retrain made them.

A model's spec names its declared artifact (``artifact: hf://...@v1``). A workflow that trains it without a
version bump makes other weights under the same spec: the run's output folder, known by its digest. The
revision id of every endpoint serving the model covers that digest (``stacks.engine.trained_revision``), so

- in an apply that retrains, the rollout's revision is computed once the training step has reported its
  digest (the plan says "rolls out the artifact trained in this apply"; the workflow passes the digest on);
- in a later plan, the digest the catalog registered last for the model (``AppliedState.artifacts``, kept on
  the applied graph as ``LineageGraph.trained``) goes into both sides' revision ids, so an in-place change
  stays in place and a new revision keeps serving the trained weights, until the model's spec changes (a
  version bump declares other weights and the trained ones no longer apply).

Pure: reads graphs, returns values.
"""

from __future__ import annotations

from typing import Any

from modelplane.compiler.change.state import TrainedArtifact
from modelplane.compiler.graph.fingerprint import content_hash
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.load.specset import SpecNode
from modelplane.specs.base import NodeId


def spec_hash(model: dict[str, Any] | None) -> str:
    """The model's spec as a trained artifact remembers it (what it was trained for)."""
    return content_hash((model or {}).get("spec"))


def applied_artifact(applied: LineageGraph, model: SpecNode | None) -> TrainedArtifact | None:
    """The trained artifact that serves ``model`` (the head's or the applied node): the one last registered,
    while the model's spec is the one it was trained for."""
    if model is None:
        return None
    trained = getattr(applied, "trained", None) or {}  # a graph cached before this field has none
    found: TrainedArtifact | None = trained.get(model.id)
    if found is None or found.model_spec != spec_hash(model.data):
        return None
    return found


def served_artifact(applied: LineageGraph, model: SpecNode | None) -> dict[str, str] | None:
    """``details.artifact`` of a rollout: the digest and folder of the trained weights its revision serves."""
    found = applied_artifact(applied, model)
    return None if found is None else {"digest": found.digest, "path": found.path}


def served_digest(applied: LineageGraph, endpoint: NodeId) -> str | None:
    """The digest of the trained artifact ``endpoint`` serves now (its last successful rollout's), if any."""
    served: dict[NodeId, str] = getattr(applied, "served", None) or {}
    return served.get(endpoint)


def model_of(graph: LineageGraph, endpoint: SpecNode, fallback: LineageGraph | None = None) -> SpecNode | None:
    ref = NodeId("model", endpoint.spec["model"])
    return graph.nodes.get(ref) or (fallback.nodes.get(ref) if fallback is not None else None)
