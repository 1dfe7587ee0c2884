"""What a provider module declares: its plan-time knowledge, and where its Pulumi node pools and provisioner are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderDecl:
    """One stack provider (``local``, ``kubernetes``, ``aws-eks``, ``gcp-gke``)."""

    name: str
    local: bool
    """Runs on this machine: no GPU nodes to fit, no zones, a local pod start-up, idle canaries get synthetic
    traffic, and ``modelplane down`` stops it."""
    provisioner: str
    """The module exposing ``provisioner()`` that carries out its actions and rollout steps (``runtime/provisioners/``)."""
    prices_as: str | None = None
    """The provider its GPU prices are listed under (``specs/pricing.py``); None: it costs nothing per hour."""
    pulumi_packages: tuple[str, ...] = ()
    """The Python packages its Pulumi program needs (the worker's preflight checks them)."""
    extra: str | None = None
    """The pip extra installing the package its node pools need (``modelplane[aws]``), if any."""
    node_pools: str | None = None
    """``module:function`` creating the stack's GPU node pools (``stacks/eks.py``), if it has managed ones."""

    @property
    def pool_package(self) -> str | None:
        """The Python package the node pools need beyond Kubernetes' (``pulumi_aws``)."""
        extra = [p for p in self.pulumi_packages if p not in ("pulumi", "pulumi_kubernetes")]
        return extra[0] if extra else None
