"""The Kubernetes objects of one stack, rendered from the compiled graph (pure: dicts in, dicts out).

Per endpoint revision on the stack: a Deployment running `vllm serve` with the
arguments from the spec (``compiler.engine``, the renderer the local stack
uses), GPU requests = limits, the GPU toleration, a node selector on the pool
label, startup/readiness probes on the model endpoint and a liveness probe on
``/health``, a shared-memory volume, zone spread, a PodDisruptionBudget, a
Service and an autoscaler (HPA v2 on in-flight requests, or a KEDA
ScaledObject on the same PromQL). Per endpoint: an Envoy router whose
least-request balancer is power of two choices, with weighted clusters for
stable and canary. The Pulumi program creates exactly these objects; ``stack
preview --render DIR`` writes them as YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml
from modelplane.compiler.engine import VLLM_PORT, revision_id, vllm_args
from modelplane.compiler.graph import LineageGraph
from modelplane.specs.base import NodeId
from modelplane.specs.common import duration_seconds

POOL_LABEL = "modelplane.dev/pool"
GPU = "nvidia.com/gpu"
ENVOY_IMAGE = "envoyproxy/envoy:v1.31.2"
ROUTER_PORT = 8080


@dataclass
class Rendered:
    stack: str
    provider: str
    namespace: str
    pools: list[dict[str, Any]]
    region: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per endpoint: revision, weights, gpus, replicas (what preview lists)."""


def _meta(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels}


def _labels(endpoint: str, revision: str | None = None) -> dict[str, str]:
    out = {"app.kubernetes.io/managed-by": "modelplane", "modelplane.dev/endpoint": endpoint}
    if revision:
        out["modelplane.dev/revision"] = revision
    return out


def render_stack(graph: LineageGraph, stack_name: str, weights: dict[str, dict[str, int]] | None = None) -> Rendered:
    """Every object of ``stack/<stack_name>``; ``weights`` per endpoint (default: its revision at 100)."""
    stack = graph.nodes[NodeId("stack", stack_name)]
    spec = stack.spec
    ns = spec.get("namespace", "modelplane")
    out = Rendered(
        stack_name, spec["provider"], ns, list(spec.get("gpu_pools", [])), spec.get("region"), spec.get("settings", {})
    )
    out.objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
        "app.kubernetes.io/managed-by": "modelplane"}}})  # fmt: skip
    for ep in graph.iter_kind("Endpoint"):
        if ep.spec["stack"] != stack_name:
            continue
        model = graph.nodes[NodeId("model", ep.spec["model"])]
        revision = revision_id(ep.data, model.data)
        split = (weights or {}).get(ep.name) or {revision: 100}
        pool = _pool_for(out.pools, ep.spec["resources"]["accelerator"])
        out.objects += revision_objects(ep.data, model.data, revision, ns, pool, spec.get("settings", {}))
        out.objects += router_objects(ep.data, ns, split)
        res = ep.spec["resources"]
        scaling = ep.spec["autoscaling"]
        out.endpoints[ep.name] = {
            "revision": revision,
            "weights": split,
            "image": ep.spec.get("engine", {}).get("image", "vllm/vllm-openai:v0.11.0"),
            "args": vllm_args(ep.data, model.data),
            "gpus_per_replica": res.get("gpus_per_replica", 1),
            "accelerator": res["accelerator"],
            "pool": pool["name"] if pool else None,
            "replicas": [scaling["min_replicas"], scaling["max_replicas"]],
        }
    return out


def _pool_for(pools: list[dict[str, Any]], accelerator: str) -> dict[str, Any] | None:
    return next((p for p in pools if p["accelerator"] == accelerator), None)


def revision_objects(
    endpoint: dict[str, Any],
    model: dict[str, Any],
    revision: str,
    namespace: str,
    pool: dict[str, Any] | None,
    settings: dict[str, Any],
) -> list[dict[str, Any]]:
    name = endpoint["metadata"]["name"]
    spec = endpoint["spec"]
    res = spec["resources"]
    gpus = str(res.get("gpus_per_replica", 1))
    health = spec.get("health", {})
    period = int(duration_seconds(health.get("period", "10s")))
    placement = spec.get("placement", {})
    scaling = spec["autoscaling"]
    engine = spec.get("engine", {})
    full = f"{name}-{revision}"
    labels = _labels(name, revision)
    limits: dict[str, str] = {GPU: gpus, "cpu": str(res.get("cpu", "8")), "memory": str(res.get("memory", "64Gi"))}
    pod: dict[str, Any] = {
        "containers": [
            {
                "name": "vllm",
                "image": engine.get("image", "vllm/vllm-openai:v0.11.0"),
                "command": ["vllm", "serve"],
                "args": vllm_args(endpoint, model, VLLM_PORT),
                "ports": [{"name": "http", "containerPort": VLLM_PORT}],
                "resources": {"requests": dict(limits), "limits": limits},
                # model load takes minutes: the startup probe allows it, then readiness takes over
                "startupProbe": {
                    "httpGet": {"path": "/v1/models", "port": VLLM_PORT},
                    "periodSeconds": period,
                    "failureThreshold": int(health.get("startup_failure_threshold", 60)),
                },
                "readinessProbe": {"httpGet": {"path": "/v1/models", "port": VLLM_PORT}, "periodSeconds": 5},
                "livenessProbe": {
                    "httpGet": {"path": "/health", "port": VLLM_PORT},
                    "periodSeconds": period,
                    "failureThreshold": 3,
                },
                "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
            }
        ],
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}],
        "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": int(duration_seconds(health.get("drain_grace", "30s"))) + 5,
        "topologySpreadConstraints": [
            {
                "maxSkew": int(placement.get("max_skew", 1)),
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels},
            }
        ],
    }
    if pool is not None:
        pod["nodeSelector"] = {POOL_LABEL: pool["name"]}
    if placement.get("zones"):
        pod["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                   "values": list(placement["zones"])}]}]}}}  # fmt: skip
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(full, namespace, labels),
        "spec": {
            "replicas": int(scaling["min_replicas"]),
            "selector": {"matchLabels": labels},
            # no spare GPUs to surge onto: replace one pod at a time
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(full, namespace, labels),
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": VLLM_PORT}]},
    }
    unavailable = str(placement.get("pdb_max_unavailable", "10%"))
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(full, namespace, labels),
        "spec": {
            "maxUnavailable": int(unavailable) if unavailable.isdigit() else unavailable,
            "selector": {"matchLabels": labels},
        },
    }
    return [deployment, service, pdb, autoscaler(endpoint, full, namespace, labels, settings)]


def target_in_flight(spec: dict[str, Any]) -> int:
    """Requests in flight per replica to scale at: the spec's target, else Little's law on its capacity."""
    scaling = spec["autoscaling"]
    if scaling.get("target"):
        return int(scaling["target"])
    qps = spec.get("capacity", {}).get("target_qps_per_replica")
    p99_s = float(spec["slo"]["p99_latency_ms"]) / 1000
    if qps:
        return max(1, math.ceil(float(qps) * p99_s / 2))
    return 32


def autoscaler(
    endpoint: dict[str, Any], full: str, namespace: str, labels: dict[str, str], settings: dict[str, Any]
) -> dict[str, Any]:
    spec = endpoint["spec"]
    scaling = spec["autoscaling"]
    up, down = scaling.get("scale_up", {}), scaling.get("scale_down", {})
    target = target_in_flight(spec)
    if settings.get("autoscaler") == "keda":
        query = (
            f'sum(vllm:num_requests_running{{namespace="{namespace}",deployment="{full}"}})'
            f' + sum(vllm:num_requests_waiting{{namespace="{namespace}",deployment="{full}"}})'
        )
        return {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": _meta(full, namespace, labels),
            "spec": {
                "scaleTargetRef": {"name": full},
                "minReplicaCount": int(scaling["min_replicas"]),
                "maxReplicaCount": int(scaling["max_replicas"]),
                "triggers": [{"type": "prometheus", "metadata": {
                    "serverAddress": settings.get("prometheus_url", "http://prometheus.monitoring:9090"),
                    "query": query, "threshold": str(target)}}],
            },
        }  # fmt: skip

    def policy(p: dict[str, Any], default_stab: str, default_pct: int, default_period: str) -> dict[str, Any]:
        return {
            "stabilizationWindowSeconds": int(duration_seconds(p.get("stabilization", default_stab))),
            "policies": [{"type": "Percent", "value": int(p.get("max_percent_per_period", default_pct)),
                          "periodSeconds": int(duration_seconds(p.get("period", default_period)))}],
        }  # fmt: skip

    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(full, namespace, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": full},
            "minReplicas": max(1, int(scaling["min_replicas"])),
            "maxReplicas": int(scaling["max_replicas"]),
            # vllm:num_requests_running + vllm:num_requests_waiting per pod, through prometheus-adapter
            "metrics": [{"type": "Pods", "pods": {"metric": {"name": "vllm_requests_in_flight"},
                                                  "target": {"type": "AverageValue", "averageValue": str(target)}}}],
            "behavior": {
                "scaleUp": policy(up, "0s", 100, "15s"),
                "scaleDown": policy(down, "15m", 10, "60s"),
            },
        },
    }  # fmt: skip


def envoy_config(endpoint: dict[str, Any], namespace: str, weights: dict[str, int]) -> dict[str, Any]:
    """Envoy bootstrap: LEAST_REQUEST (power of two choices) per revision, weighted clusters across them."""
    name = endpoint["metadata"]["name"]
    routing = endpoint["spec"].get("routing", {})
    retries = routing.get("retries", {})
    policy = routing.get("policy", "power_of_two_choices")
    lb = "ROUND_ROBIN" if policy == "round_robin" else "LEAST_REQUEST"
    clusters = []
    for rev in weights:
        cluster: dict[str, Any] = {
            "name": f"{name}-{rev}",
            "type": "STRICT_DNS",
            "connect_timeout": "1s",
            "lb_policy": lb,
            "load_assignment": {"cluster_name": f"{name}-{rev}", "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": f"{name}-{rev}.{namespace}.svc.cluster.local",
                                               "port_value": 80}}}}]}]},
        }  # fmt: skip
        if lb == "LEAST_REQUEST":
            cluster["least_request_lb_config"] = {"choice_count": int(routing.get("choice_count", 2))}
        clusters.append(cluster)
    route: dict[str, Any] = {
        "weighted_clusters": {"clusters": [{"name": f"{name}-{r}", "weight": w} for r, w in weights.items()]},
        "retry_policy": {
            "retry_on": "connect-failure,refused-stream,retriable-status-codes",
            "retriable_status_codes": list(retries.get("retry_on", [503, 429])),
            "num_retries": int(retries.get("max_retries", 1)),
            "per_try_timeout": f"{int(retries.get('per_try_timeout_ms', 1000)) / 1000}s",
        },
    }
    if routing.get("timeout_ms"):
        route["timeout"] = f"{int(routing['timeout_ms']) / 1000}s"
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"],
                                            "routes": [{"match": {"prefix": "/"}, "route": route}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }  # fmt: skip
    return {
        "admin": {"address": {"socket_address": {"address": "0.0.0.0", "port_value": 9901}}},
        "static_resources": {
            "listeners": [{"name": "http", "address": {"socket_address": {"address": "0.0.0.0",
                                                                          "port_value": ROUTER_PORT}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": hcm}]}]}],
            "clusters": clusters,
        },
    }  # fmt: skip


def router_objects(endpoint: dict[str, Any], namespace: str, weights: dict[str, int]) -> list[dict[str, Any]]:
    name = endpoint["metadata"]["name"]
    full = f"{name}-router"
    labels = {**_labels(name), "app.kubernetes.io/component": "router"}
    config = yaml.safe_dump(envoy_config(endpoint, namespace, weights), sort_keys=False)
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(full, namespace, labels),
         "data": {"envoy.yaml": config}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(full, namespace, labels),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{
                            "name": "envoy", "image": ENVOY_IMAGE,
                            "args": ["-c", "/etc/envoy/envoy.yaml"],
                            "ports": [{"name": "http", "containerPort": ROUTER_PORT},
                                      {"name": "admin", "containerPort": 9901}],
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 9901}},
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/envoy"}],
                        }],
                        "volumes": [{"name": "config", "configMap": {"name": full}}],
                    },
                },
            },
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace, labels),
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": ROUTER_PORT}]}},
    ]  # fmt: skip
