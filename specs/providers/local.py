"""The local provider: processes on this machine (the router, the vLLM stand-in, the autoscaler)."""

from __future__ import annotations

from modelplane.specs.providers.facets import ProviderDecl

LOCAL = ProviderDecl(name="local", local=True, provisioner="modelplane.runtime.provisioners.local")
