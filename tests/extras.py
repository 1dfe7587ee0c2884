"""Skip markers for tests that need an optional extra: without it they skip and say which extra to install,
rather than fail on what the product deliberately leaves out (a stack preview without `pulumi_aws` lists
only the Kubernetes objects and names the missing extra)."""

from __future__ import annotations

import importlib.util

import pytest


def needs_extra(module: str, extra: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"the `{extra}` extra is not installed (pip install 'modelplane[{extra}]')",
    )


needs_aws = needs_extra("pulumi_aws", "aws")
needs_gcp = needs_extra("pulumi_gcp", "gcp")
