"""Which Endpoint fields make a new revision and which change the running one in place: the one place that says.

A revision is what runs on the replicas: the model and its artifact, the
engine (image, arguments, the simulator's latency model), the resources a
pod asks for, its probes and its placement (all in the pod template). A new
revision means new replicas and a canary. Everything else is read by the
router, the autoscaler, the rollout or the people around it: autoscaling,
routing, capacity (the router's per-replica cap, the scaling target), the
declared traffic and SLO (gates and timeouts), the rollout and analysis
policy, and the metadata (labels, owner, description). Changing those updates
the running revision in place (locally the router's and autoscaler's
settings; on Kubernetes the HPA and Envoy objects), with no new replicas:
the way Argo Rollouts and Kubernetes treat a Deployment's non-template fields.

``stacks.engine.revision_id`` hashes only the revision fields, so an in-place
change keeps the revision id; the plan marks such a rollout ``in place``.
``tests/specs/test_endpoint_fields.py`` fails when a field of ``EndpointSpec``
is missing here.
"""

from __future__ import annotations

from typing import Any, Literal

Effect = Literal["revision", "in place"]

ENDPOINT_FIELDS: dict[str, Effect] = {
    "model": "revision",
    "model_version": "revision",
    "stack": "revision",  # another stack is another deployment altogether (the plan replaces the endpoint)
    "engine": "revision",
    "resources": "revision",
    "health": "revision",  # startup/readiness probes and the drain hook are in the pod template
    "placement": "revision",  # zone spread and affinity are in the pod template
    "traffic": "in place",  # what the gates, timeouts and capacity gate read
    "slo": "in place",
    "capacity": "in place",  # the router's per-replica cap and the autoscaling target
    "autoscaling": "in place",
    "routing": "in place",
    "rollout": "in place",
}
"""Each top-level field of ``EndpointSpec`` -> what a change to it does. Metadata is always in place."""


def revision_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of an endpoint's spec that makes its revision (an unknown field counts: safe by default)."""
    return {k: v for k, v in spec.items() if ENDPOINT_FIELDS.get(k, "revision") == "revision"}


def effect_of(path: str) -> Effect:
    """What changing the field at ``path`` (``spec.autoscaling.max_replicas``, ``metadata.labels``) does."""
    parts = path.split(".")
    if parts[0] != "spec":
        return "in place"
    return ENDPOINT_FIELDS.get(parts[1], "revision") if len(parts) > 1 else "revision"
