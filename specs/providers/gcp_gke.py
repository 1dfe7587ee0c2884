"""GKE: Kubernetes on Google Cloud through Pulumi, with node pools for the GPU pools (``stacks/gke.py``)."""

from __future__ import annotations

from modelplane.specs.providers.facets import ProviderDecl

GCP_GKE = ProviderDecl(
    name="gcp-gke",
    local=False,
    provisioner="modelplane.runtime.provisioners.pulumi",
    prices_as="gcp",
    pulumi_packages=("pulumi", "pulumi_kubernetes", "pulumi_gcp"),
    extra="gcp",
    node_pools="modelplane.stacks.gke:node_pools",
)
