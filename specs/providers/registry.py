"""The registry of stack providers, looked up by name (a stack's ``spec.provider``)."""

from __future__ import annotations

from modelplane.specs.providers.aws_eks import AWS_EKS
from modelplane.specs.providers.facets import ProviderDecl
from modelplane.specs.providers.gcp_gke import GCP_GKE
from modelplane.specs.providers.kubernetes import KUBERNETES
from modelplane.specs.providers.local import LOCAL

_PROVIDERS: dict[str, ProviderDecl] = {}


def register(decl: ProviderDecl) -> ProviderDecl:
    _PROVIDERS[decl.name] = decl
    return decl


def get(name: str) -> ProviderDecl:
    """The provider called ``name``; ``KeyError`` for one not registered."""
    return _PROVIDERS[name]


def find(name: object) -> ProviderDecl | None:
    return _PROVIDERS.get(name) if isinstance(name, str) else None


def names() -> tuple[str, ...]:
    return tuple(_PROVIDERS)


def is_local(name: str | None) -> bool:
    """A stack on this provider runs on this machine (no stack at all counts as local, as the rules always had it)."""
    provider = find(name) if name is not None else LOCAL
    return provider is not None and provider.local


for _decl in (LOCAL, KUBERNETES, AWS_EKS, GCP_GKE):
    register(_decl)
