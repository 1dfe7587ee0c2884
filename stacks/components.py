"""Pulumi component resources for a GPU serving stack, built from ``stacks.render``.

``GpuServingStack`` holds the node pools of its cloud (EKS managed node groups
or GKE node pools, when the stack's provider is one of those and its extra is
installed) and every rendered Kubernetes object. Built-in kinds without a
spec-less shape go through ``CustomResource`` with their real type token
(``kubernetes:apps/v1:Deployment``...), so the objects Pulumi sends are exactly
the rendered ones (validated against the Kubernetes schemas in tests).
"""

from __future__ import annotations

import importlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from modelplane.specs.providers import registry as providers
from modelplane.stacks.render import Rendered


class GpuServingStack(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        rendered: Rendered,
        provider: k8s.Provider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("modelplane:stacks:GpuServingStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.node_pools: list[pulumi.Resource] = []
        pools = providers.get(rendered.provider).node_pools  # a managed cloud's pools: stacks/eks.py, stacks/gke.py
        if pools is not None and rendered.pools:
            module, _, function = pools.partition(":")
            make = getattr(importlib.import_module(module), function)
            self.node_pools = make(rendered, pulumi.ResourceOptions(parent=self))
        self.objects: dict[str, pulumi.Resource] = {}
        namespace = None
        for obj in rendered.objects:
            key = object_key(obj)
            deps: list[pulumi.Resource] = [namespace] if namespace is not None else []
            opts_i = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=deps))
            res = kubernetes_object(key, obj, opts_i)
            if obj["kind"] == "Namespace":
                namespace = res
            self.objects[key] = res
        self.register_outputs({"objects": len(self.objects), "node_pools": len(self.node_pools)})


def object_key(obj: dict[str, Any]) -> str:
    md = obj["metadata"]
    return "-".join(p for p in (obj["kind"].lower(), md.get("namespace", ""), md["name"]) if p)


def kubernetes_object(key: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    kind = obj["kind"]
    if kind == "Namespace":
        return k8s.core.v1.Namespace(key, metadata=obj["metadata"], opts=opts)
    if kind == "ConfigMap":
        return k8s.core.v1.ConfigMap(key, metadata=obj["metadata"], data=obj["data"], opts=opts)
    if kind == "ServiceAccount":
        return k8s.core.v1.ServiceAccount(key, metadata=obj["metadata"], opts=opts)
    return k8s.apiextensions.CustomResource(
        key, api_version=obj["apiVersion"], kind=kind, metadata=obj["metadata"], spec=obj["spec"], opts=opts
    )
