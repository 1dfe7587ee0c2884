"""The stack settings the Kubernetes renderer and the cloud node pools read, typed with their defaults.

``Stack.spec.settings`` is an open mapping (a stack may carry settings for
other tools, e.g. ``kubernetes_version``), so unknown keys are kept; the keys
read here are validated and defaulted in one place instead of at each use.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PROMETHEUS_URL = "http://prometheus.monitoring:9090"


class StackSettings(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    autoscaler: Literal["hpa", "keda"] = "hpa"
    """HPA v2 on in-flight requests (through prometheus-adapter), or a KEDA ScaledObject on the same PromQL."""
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    cluster_name: str | None = None
    """The existing EKS/GKE cluster the node pools join; default: the stack's name."""
    node_role_arn: str | None = None
    """EKS: the node role to use; default: one is created with the worker policies."""
    subnet_ids: list[str] = Field(default_factory=list)
    node_disk_gib: Annotated[int, Field(ge=1)] = 200
