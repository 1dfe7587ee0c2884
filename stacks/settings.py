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
    scrape: Literal["annotations", "podmonitor"] = "annotations"
    """How Prometheus finds the vLLM and Envoy pods: ``prometheus.io/*`` pod annotations (the common
    ``kubernetes-pods`` job), or PodMonitor objects (prometheus-operator)."""
    scrape_labels: dict[str, str] = Field(default_factory=dict)
    """Labels on the PodMonitors, for the Prometheus's ``podMonitorSelector`` (e.g. ``release: kube-prometheus``)."""
    service_account: str = "modelplane-serving"
    """The ServiceAccount the model-serving pods run as (one per stack, created by the stack)."""
    aws_role_arn: str | None = None
    """EKS IRSA: the IAM role the serving pods assume to read ``s3://`` weights (``eks.amazonaws.com/role-arn``)."""
    gcp_service_account: str | None = None
    """GKE Workload Identity: the Google service account for ``gs://`` weights (``iam.gke.io/gcp-service-account``)."""
    service_account_annotations: dict[str, str] = Field(default_factory=dict)
    """Any other annotations of the ServiceAccount (another cloud's identity binding)."""
    cluster_name: str | None = None
    """The existing EKS/GKE cluster the node pools join; default: the stack's name."""
    node_role_arn: str | None = None
    """EKS: the node role to use; default: one is created with the worker policies."""
    subnet_ids: list[str] = Field(default_factory=list)
    node_disk_gib: Annotated[int, Field(ge=1)] = 200

    def identity_annotations(self) -> dict[str, str]:
        out = dict(self.service_account_annotations)
        if self.aws_role_arn:
            out["eks.amazonaws.com/role-arn"] = self.aws_role_arn
        if self.gcp_service_account:
            out["iam.gke.io/gcp-service-account"] = self.gcp_service_account
        return out
