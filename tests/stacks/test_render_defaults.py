"""Property: what the stack renderer uses for a field left out is the spec model's default.

For random valid Endpoint and Stack documents with optional fields left out,
the rendered objects equal those rendered from the same documents with every
default written out (the models' normalized dump), and the values the
Deployment, autoscaler, PDB and router carry are the models' field defaults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelplane.compiler.graph.lineage import LineageGraph, build
from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.specs.base import NodeId
from modelplane.specs.common import duration_seconds
from modelplane.specs.models import Model
from modelplane.specs.platform import Stack, StackSpec
from modelplane.specs.project import Project
from modelplane.specs.serving import (
    DEFAULT_LATENCY_BUCKETS,
    DEFAULT_VLLM_IMAGE,
    Autoscaling,
    Endpoint,
    Health,
    Placement,
    Resources,
    Retries,
    Routing,
    VllmArgs,
)
from modelplane.stacks.engine import command
from modelplane.stacks.render import Rendered, render_stack
from modelplane.stacks.settings import DEFAULT_PROMETHEUS_URL
from modelplane.stacks.timeouts import per_try_ms

HEADER = {"apiVersion": "modelplane/v1"}


def _maybe(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    """A value, or ``None`` meaning "leave the field out"."""
    return draw(st.one_of(st.none(), strategy))


@st.composite
def endpoint_docs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": "m",
        "stack": "gpu",
        "resources": {"accelerator": draw(st.sampled_from(["H100", "L40S", "L4"]))},
        "traffic": {"qps": draw(st.integers(1, 10_000))},
        "slo": {"p99_latency_ms": draw(st.integers(50, 5_000))},
    }
    lo = draw(st.integers(0, 5))
    spec["autoscaling"] = {"min_replicas": lo, "max_replicas": lo + draw(st.integers(1, 20))}
    optional: dict[tuple[str, ...], Any] = {
        ("resources", "gpus_per_replica"): _maybe(draw, st.integers(1, 8)),
        ("resources", "cpu"): _maybe(draw, st.sampled_from(["4", "16"])),
        ("engine", "image"): _maybe(draw, st.sampled_from(["vllm/vllm-openai:v0.32.0", DEFAULT_VLLM_IMAGE])),
        ("engine", "args", "max_num_seqs"): _maybe(draw, st.integers(1, 2048)),
        ("engine", "args", "enable_prefix_caching"): _maybe(draw, st.booleans()),
        ("engine", "args", "async_scheduling"): _maybe(draw, st.booleans()),
        ("engine", "histogram_buckets"): _maybe(draw, st.just([0.1, 0.5, 1.0])),
        ("health", "startup_failure_threshold"): _maybe(draw, st.integers(1, 200)),
        ("health", "period"): _maybe(draw, st.sampled_from(["5s", "30s"])),
        ("placement", "zones"): _maybe(draw, st.just(["us-east-1a", "us-east-1b"])),
        ("placement", "pdb_max_unavailable"): _maybe(draw, st.sampled_from(["1", "25%"])),
        ("autoscaling", "target"): _maybe(draw, st.integers(1, 64)),
        ("autoscaling", "scale_down"): _maybe(draw, st.just({"stabilization": "5m"})),
        ("capacity", "target_qps_per_replica"): _maybe(draw, st.integers(1, 2_000)),
        ("routing", "policy"): _maybe(draw, st.sampled_from(["round_robin", "least_request"])),
        ("routing", "retries", "max_retries"): _maybe(draw, st.integers(0, 5)),
        ("routing", "timeout_ms"): _maybe(draw, st.integers(1, 10_000)),
    }
    for path, value in optional.items():
        if value is None:
            continue
        at = spec
        for part in path[:-1]:
            at = at.setdefault(part, {})
        at[path[-1]] = value
    gpus = spec["resources"].get("gpus_per_replica", 1)
    if draw(st.booleans()):
        spec.setdefault("engine", {}).setdefault("args", {})["tensor_parallel_size"] = draw(st.integers(1, gpus))
    return {**HEADER, "kind": "Endpoint", "metadata": {"name": "ep", "owner": "t"}, "spec": spec}


@st.composite
def stack_docs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"provider": draw(st.sampled_from(["kubernetes", "aws-eks"]))}
    if spec["provider"] == "aws-eks":
        spec["region"] = "us-east-1"
    if draw(st.booleans()):
        spec["namespace"] = "serving"
    if draw(st.booleans()):
        spec["gpu_pools"] = [{"name": "pool", "accelerator": "H100", "gpus_per_node": 8, "max_nodes": 4}]
    settings_: dict[str, Any] = {}
    if draw(st.booleans()):
        settings_["autoscaler"] = draw(st.sampled_from(["hpa", "keda"]))
    if draw(st.booleans()):
        settings_["kubernetes_version"] = "1.31"  # a setting for other tools is kept, not an error
    if settings_:
        spec["settings"] = settings_
    return {**HEADER, "kind": "Stack", "metadata": {"name": "gpu", "owner": "t"}, "spec": spec}


MODEL = {
    **HEADER,
    "kind": "Model",
    "metadata": {"name": "m", "owner": "t"},
    "spec": {"version": "1", "artifact": "hf://org/m@abc", "parameters_b": 1},
}


def _graph(docs: list[dict[str, Any]], normalized: bool) -> LineageGraph:
    nodes = {}
    for i, doc in enumerate(docs):
        cls = {"Endpoint": Endpoint, "Model": Model, "Stack": Stack}[doc["kind"]]
        model = cls.model_validate(doc)
        data = model.model_dump(mode="json", by_alias=True) if normalized else doc
        nid = NodeId(doc["kind"].lower(), doc["metadata"]["name"])
        nodes[nid] = SpecNode(nid, doc["kind"], "specs/a.yaml", i, data, model if not normalized else None)
    project = Project(name="demo")
    return build(SpecSet(Path("."), project, "dev", dict(sorted(nodes.items()))))


def _without_revision(r: Rendered) -> str:
    text = json.dumps({"objects": r.objects, "endpoints": r.endpoints}, sort_keys=True)
    for ep in r.endpoints.values():
        # the revision id hashes the document as written (compiler.engine.revision_id); the objects must not
        # depend on anything else that writing a default out changes
        text = text.replace(ep["revision"], "REV")
    return text


def _deployment(r: Rendered) -> dict[str, Any]:
    return next(o for o in r.objects if o["kind"] == "Deployment" and not o["metadata"]["name"].endswith("-router"))


def _of(r: Rendered, kind: str) -> dict[str, Any]:
    return next(o for o in r.objects if o["kind"] == kind)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoint_docs(), stack_docs())
def test_left_out_fields_render_as_the_model_defaults(ep_doc: dict[str, Any], stack_doc: dict[str, Any]) -> None:
    docs = [ep_doc, MODEL, stack_doc]
    as_written = render_stack(_graph(docs, normalized=False), "gpu")
    spelled_out = render_stack(_graph(docs, normalized=True), "gpu")
    assert _without_revision(as_written) == _without_revision(spelled_out)

    spec, written = Endpoint.model_validate(ep_doc).spec, ep_doc["spec"]
    stack = Stack.model_validate(stack_doc).spec
    dep = _deployment(as_written)
    pod = dep["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert dep["metadata"]["namespace"] == stack_doc["spec"].get(
        "namespace", StackSpec.model_fields["namespace"].default
    )
    engine = written.get("engine", {})
    if "image" not in engine:
        assert c["image"] == DEFAULT_VLLM_IMAGE
    assert c["args"] == command(spec, "m", Model.model_validate(MODEL).spec)
    args = engine.get("args", {})
    for name in ("tensor_parallel_size", "gpu_memory_utilization"):
        if name not in args:
            flag = "--" + name.replace("_", "-")
            assert c["args"][c["args"].index(flag) + 1] == str(VllmArgs.model_fields[name].default)
    if "enable_server_load_tracking" not in args:
        assert VllmArgs.model_fields["enable_server_load_tracking"].default is True
        assert "--enable-server-load-tracking" in c["args"]
    if "histogram_buckets" not in engine:
        buckets = c["args"][c["args"].index("--custom-histogram-buckets") + 1]
        assert json.loads(buckets) == {"request_latency": DEFAULT_LATENCY_BUCKETS}

    res = written["resources"]
    if "gpus_per_replica" not in res:
        assert c["resources"]["limits"]["nvidia.com/gpu"] == str(Resources.model_fields["gpus_per_replica"].default)
    if "cpu" not in res:
        assert c["resources"]["limits"]["cpu"] == Resources.model_fields["cpu"].default
    assert c["resources"]["limits"]["memory"] == Resources.model_fields["memory"].default

    health, default_health = written.get("health", {}), Health()
    if "startup_failure_threshold" not in health:
        assert c["startupProbe"]["failureThreshold"] == default_health.startup_failure_threshold
    if "period" not in health:
        assert c["livenessProbe"]["periodSeconds"] == duration_seconds(default_health.period)
    assert pod["terminationGracePeriodSeconds"] == duration_seconds(default_health.drain_grace) + 5

    placement, default_placement = written.get("placement", {}), Placement()
    assert pod["topologySpreadConstraints"][0]["maxSkew"] == default_placement.max_skew
    if "zones" not in placement:
        assert "affinity" not in pod
    if "pdb_max_unavailable" not in placement:
        assert _of(as_written, "PodDisruptionBudget")["spec"]["maxUnavailable"] == default_placement.pdb_max_unavailable
    if not stack.gpu_pools:
        assert "nodeSelector" not in pod

    settings_ = stack_doc["spec"].get("settings", {})
    if "autoscaler" not in settings_:
        hpa = _of(as_written, "HorizontalPodAutoscaler")["spec"]
        up = Autoscaling.model_fields["scale_up"].get_default(call_default_factory=True)
        assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == duration_seconds(up.stabilization)
        assert hpa["behavior"]["scaleUp"]["policies"][0]["value"] == up.max_percent_per_period
        if "scale_down" not in written["autoscaling"]:
            down = Autoscaling.model_fields["scale_down"].get_default(call_default_factory=True)
            assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == duration_seconds(down.stabilization)
            assert hpa["behavior"]["scaleDown"]["policies"][0]["periodSeconds"] == duration_seconds(down.period)
    elif settings_["autoscaler"] == "keda":
        keda = _of(as_written, "ScaledObject")["spec"]
        assert keda["triggers"][0]["metadata"]["serverAddress"] == DEFAULT_PROMETHEUS_URL

    router = next(o for o in as_written.objects if o["kind"] == "ConfigMap" and "envoy.yaml" in o["data"])
    envoy = yaml.safe_load(router["data"]["envoy.yaml"])
    [cluster] = [c for c in envoy["static_resources"]["clusters"] if c["name"] != "envoy-admin"]
    routing = written.get("routing", {})
    if "policy" not in routing:
        assert Routing().policy == "power_of_two_choices" and cluster["lb_policy"] == "LEAST_REQUEST"
        assert cluster["least_request_lb_config"]["choice_count"] == Routing().choice_count
    route = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    retry = route["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["retry_policy"]
    assert retry["retriable_status_codes"] == Retries().retry_on
    # left out: the per-try timeout comes from the SLO and token shape (stacks.timeouts), never a fixed second
    assert Retries().per_try_timeout_ms is None
    assert retry["per_try_timeout"] == f"{per_try_ms(spec) / 1000:g}s"
    if "max_retries" not in routing.get("retries", {}):
        assert retry["num_retries"] == Retries().max_retries
