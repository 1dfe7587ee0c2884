"""EKS: Kubernetes on AWS through Pulumi, with managed node groups for the GPU pools (``stacks/eks.py``)."""

from __future__ import annotations

from modelplane.specs.providers.facets import ProviderDecl

AWS_EKS = ProviderDecl(
    name="aws-eks",
    local=False,
    provisioner="modelplane.runtime.provisioners.pulumi",
    prices_as="aws",
    pulumi_packages=("pulumi", "pulumi_kubernetes", "pulumi_aws"),
    extra="aws",
    node_pools="modelplane.stacks.eks:node_groups",
)
