"""One module per stack provider: what the compiler, the stacks and the runtime know of it, in one place."""

from __future__ import annotations

import importlib
import importlib.util
import typing

import pytest

from modelplane.specs.platform import StackSpec
from modelplane.specs.providers import registry as providers


def test_every_provider_a_stack_may_name_is_registered() -> None:
    allowed = typing.get_args(StackSpec.model_fields["provider"].annotation)
    assert set(allowed) == set(providers.names())


def test_what_each_provider_declares_is_what_the_code_reads() -> None:
    from modelplane.compiler.capacity.prices import _PROVIDER
    from modelplane.runtime.preflight import EXTRAS, PULUMI_PACKAGES
    from modelplane.runtime.provisioners import PROVISIONERS

    assert PROVISIONERS == {
        "local": "modelplane.runtime.provisioners.local",
        "kubernetes": "modelplane.runtime.provisioners.pulumi",
        "aws-eks": "modelplane.runtime.provisioners.pulumi",
        "gcp-gke": "modelplane.runtime.provisioners.pulumi",
    }
    assert _PROVIDER == {"kubernetes": "kubernetes", "aws-eks": "aws", "gcp-gke": "gcp"}
    assert PULUMI_PACKAGES["aws-eks"] == ("pulumi", "pulumi_kubernetes", "pulumi_aws")
    assert "local" not in PULUMI_PACKAGES
    assert EXTRAS == {"pulumi_aws": "aws", "pulumi_gcp": "gcp"}
    assert [p for p in providers.names() if providers.is_local(p)] == ["local"]
    assert providers.is_local(None)  # an endpoint without a stack is sized and checked as local


@pytest.mark.parametrize("name", providers.names())
def test_each_provider_names_a_provisioner_and_node_pools_that_exist(name: str) -> None:
    decl = providers.get(name)
    module = importlib.import_module(decl.provisioner)
    assert callable(module.provisioner)
    if decl.node_pools is None:
        return
    where, _, function = decl.node_pools.partition(":")
    if decl.pool_package and importlib.util.find_spec(decl.pool_package) is None:
        pytest.skip(f"{decl.pool_package} is not installed (the `{decl.extra}` extra)")
    assert callable(getattr(importlib.import_module(where), function))
