"""The rendered Envoy bootstrap is valid for Envoy's own API types (envoy-data-plane), not only as YAML,
and carries the local router's safety: slow start, outlier ejection, circuit breakers, retries elsewhere."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from modelplane.compiler.compile import compile_graph
from modelplane.stacks.render import envoy_config, render_stack
from tests.conftest import EXAMPLES
from tests.endpoint_factory import endpoint_spec as _spec

pytest.importorskip("envoy_data_plane")
# typed_config (google.protobuf.Any) is checked against the message its @type names: register each
import envoy_data_plane.envoy.extensions.filters.http.router.v3
import envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3
import envoy_data_plane.envoy.extensions.retry.host.previous_hosts.v3  # noqa: F401
from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap

# betterproto2 turns field names into camelCase and back, which mangles a digit before letters
# (`consecutive_5xx` becomes `consecutive_5_xx`): those fields are checked here, then left out of from_dict
_MANGLED = {"consecutive_5xx", "enforcing_consecutive_5xx"}


def validate(config: dict[str, Any]) -> Bootstrap:
    """Envoy's API types parse it: unknown fields, wrong enums, durations and types are errors."""
    doc = copy.deepcopy(config)

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            for key in _MANGLED & node.keys():
                value = node.pop(key)
                assert isinstance(value, int) and value >= 0, (key, value)
            for v in node.values():
                strip(v)
        elif isinstance(node, list):
            for v in node:
                strip(v)

    strip(doc)
    return Bootstrap.from_dict(doc)


def test_every_example_router_config_is_valid_for_envoy() -> None:
    graph = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph
    checked = 0
    for stack in ("prod-gpu", "staging-gpu"):
        for obj in render_stack(graph, stack).objects:
            if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].endswith("-router"):
                boot = validate(yaml.safe_load(obj["data"]["envoy.yaml"]))
                assert boot.static_resources.clusters
                checked += 1
            if (
                obj["kind"] == "Service"
                and not obj["metadata"]["name"].endswith(("-router",))
                and "-r" in obj["metadata"]["name"]
            ):
                assert obj["spec"]["clusterIP"] == "None"  # headless: Envoy sees each replica
    assert checked >= 3


def test_router_safety_is_rendered() -> None:
    cfg = envoy_config(
        "e", _spec(capacity={"target_concurrency_per_replica": 8}, routing={"slow_start": "45s"}), "ns", {"a": 100}
    )
    boot = validate(cfg)
    cluster = boot.static_resources.clusters[0]
    assert cluster.least_request_lb_config.slow_start_config.slow_start_window.total_seconds() == 45
    assert cluster.circuit_breakers.thresholds[0].max_requests == 16 * 4  # cap 2 x 8, x max_replicas
    assert cluster.outlier_detection.consecutive_gateway_failure == 3
    raw = cfg["static_resources"]["clusters"][0]
    assert raw["outlier_detection"]["consecutive_5xx"] == 3
    route = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    retry = route["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["retry_policy"]
    assert retry["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"
    # without a capacity there is no cap to enforce, and round robin carries the slow start too
    rr = envoy_config("e", _spec(routing={"policy": "round_robin"}), "ns", {"a": 100})
    validate(rr)
    assert "circuit_breakers" not in rr["static_resources"]["clusters"][0]
    assert rr["static_resources"]["clusters"][0]["round_robin_lb_config"]["slow_start_config"]


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("lb_policy",), "P2C", "Unknown value P2C"),
        (("connect_timeout",), "one second", "Invalid duration"),
        (("no_such_field",), 1, "Unknown field"),
    ],
)
def test_the_validator_rejects_what_envoy_would(path: tuple[str, ...], value: Any, error: str) -> None:
    cfg = envoy_config("e", _spec(), "ns", {"a": 100})
    cfg["static_resources"]["clusters"][0][path[0]] = value
    with pytest.raises((KeyError, ValueError, TypeError), match=error):
        validate(cfg)
