"""Reading the local stack as it runs: where an endpoint's router listens, and what every router says now."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.errors import ModelplaneError
from modelplane.runtime.local.registry import Registry, admin_headers, all_registries, read, registry_path


@dataclass
class LocalEndpoint:
    """A local endpoint as its registry and (where it answers) its router see it: ``status`` shows it."""

    registry: Registry
    live: dict[str, Any]
    """The router's ``/admin/state`` (weights, replicas' health); empty where the router does not answer."""


def router_of(root: Path, environment: str, endpoint: str) -> tuple[str, str]:
    """(router URL, served model name) of an endpoint running on the local stack."""
    name = endpoint.removeprefix("endpoint/")
    reg = read(registry_path(root, environment, name))
    if reg is None or reg.router is None:
        raise ModelplaneError(
            f"endpoint/{name} is not running on the local stack of {environment}",
            hint=f"bring it up with `modelplane apply --env {environment}`",
        )
    stable = reg.stable()
    model = reg.revisions[stable].model.split("@")[0] if stable else name
    return reg.router.url, model


async def local_endpoints(root: Path, environment: str, timeout_s: float = 2.0) -> list[LocalEndpoint]:
    """Every local endpoint of the environment: its registry (routers, revisions, replicas, autoscaler) and what
    its router says now (weights, health), each router asked with a ``timeout_s`` timeout."""
    import aiohttp

    out = []
    for _, reg in all_registries(root, environment):
        live: dict[str, Any] = {}
        if reg.router is not None:
            try:
                async with (
                    aiohttp.ClientSession(headers=admin_headers(reg)) as session,
                    session.get(reg.router.url + "/admin/state", timeout=aiohttp.ClientTimeout(total=timeout_s)) as r,
                ):
                    live = await r.json()
            except (aiohttp.ClientError, TimeoutError):
                live = {}
        out.append(LocalEndpoint(reg, live))
    return out
