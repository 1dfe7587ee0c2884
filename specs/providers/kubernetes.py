"""A Kubernetes cluster of one's own, through Pulumi (no managed node pools)."""

from __future__ import annotations

from modelplane.specs.providers.facets import ProviderDecl

KUBERNETES = ProviderDecl(
    name="kubernetes",
    local=False,
    provisioner="modelplane.runtime.provisioners.pulumi",
    prices_as="kubernetes",
    pulumi_packages=("pulumi", "pulumi_kubernetes"),
)
