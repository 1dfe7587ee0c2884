"""An endpoint's Envoy router on Kubernetes: the bootstrap, and the Deployment, Service, HPA and PDB running it.

Envoy dials each revision's *headless* Service by DNS (``STRICT_DNS``): the name resolves to every ready pod's
IP, so power of two choices, slow start and outlier ejection act per replica, and the connection goes to the
pod IP at the port dialled, which must be vLLM's own (``VLLM_PORT``): a headless Service maps no ports
(docs/decisions.md, "The router dials pod IPs at vLLM's port").

Envoy's admin interface is on loopback only (it can drain, quit and rewrite the process); a second listener,
``ops``, serves just ``/ready`` (the kubelet's probe) and ``/stats/prometheus`` (what the canary analysis
queries) from it. The router is the front door: it is sized (requests and limits, ``--concurrency`` equal to
its CPU limit), autoscaled on CPU from a floor derived from the endpoint's QPS, spread across zones and
nodes, and covered by a disruption budget; its Deployment has no ``replicas`` (the HPA owns that field).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from modelplane.specs.common import duration_seconds
from modelplane.specs.serving import EndpointSpec
from modelplane.stacks.engine import VLLM_PORT
from modelplane.stacks.settings import StackSettings
from modelplane.stacks.timeouts import timeouts

ENVOY_IMAGE = "envoyproxy/envoy:v1.31.2"
ROUTER_PORT = 8080
OPS_PORT = 9902
"""Envoy's ``ops`` listener: ``/ready`` and ``/stats/prometheus`` from the loopback-only admin interface."""
ADMIN_PORT = 9901
ADMIN_CLUSTER = "envoy-admin"
STATS_PATH = "/stats/prometheus"

ROUTER_CPU = "2"
"""CPU limit of one router pod, and Envoy's worker threads (``--concurrency``: by default Envoy starts one per
core of the node, far more than the pod's share)."""
ROUTER_QPS_PER_REPLICA = 5000
"""Requests/s one router pod (2 workers) is sized for at the HPA's CPU target: the floor is the endpoint's QPS
over this, so the HPA starts where the load already is instead of catching up from 2."""
ROUTER_MIN_REPLICAS = 3
"""At least one per zone of a three-zone cluster, and a disruption leaves two."""
ROUTER_CPU_TARGET = 60

EJECT_AFTER = 3
"""Consecutive 5xx (or gateway failures: per-try timeouts) that eject a replica, as the local router does."""
EJECT_FOR = "5s"


def _socket(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}


def _hcm(stat_prefix: str, name: str, routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }  # fmt: skip


def _listener(name: str, port: int, hcm: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "address": _socket("0.0.0.0", port),
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}  # fmt: skip


def _revision_cluster(name: str, rev: str, spec: EndpointSpec, namespace: str, lb: str) -> dict[str, Any]:
    routing = spec.routing
    cluster: dict[str, Any] = {
        "name": f"{name}-{rev}",
        "type": "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": lb,
        # the headless Service's name resolves to the pod IPs; the port is vLLM's, not a Service port
        "load_assignment": {"cluster_name": f"{name}-{rev}", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": _socket(f"{name}-{rev}.{namespace}.svc.cluster.local", VLLM_PORT)}}]}]},
        "outlier_detection": {
            "consecutive_5xx": EJECT_AFTER, "consecutive_gateway_failure": EJECT_AFTER,
            "interval": "1s", "base_ejection_time": EJECT_FOR, "max_ejection_percent": 50,
        },
    }  # fmt: skip
    lb_config: dict[str, Any] = {}
    if routing.slow_start:
        lb_config["slow_start_config"] = {"slow_start_window": f"{duration_seconds(routing.slow_start):g}s"}
    if lb == "LEAST_REQUEST":
        cluster["least_request_lb_config"] = {"choice_count": routing.choice_count, **lb_config}
    elif lb_config:
        cluster["round_robin_lb_config"] = lb_config
    cap = spec.capacity.concurrency_cap()
    if cap is not None:
        # per cluster (Envoy has no per-host request limit): the cap times the replicas the revision may have
        most = cap * spec.autoscaling.max_replicas
        cluster["circuit_breakers"] = {"thresholds": [{"max_requests": most, "max_pending_requests": most,
                                                       "max_retries": max(1, most // 10)}]}  # fmt: skip
    return cluster


def envoy_config(name: str, spec: EndpointSpec, namespace: str, weights: dict[str, int]) -> dict[str, Any]:
    """Envoy bootstrap: LEAST_REQUEST (power of two choices) per revision, weighted clusters across them.

    The local router's safety, in Envoy's terms: slow start for new replicas
    (``slow_start_config``), outlier ejection on errors and on gateway failures
    (a per-try timeout is one: Envoy has no latency ejection of its own, so the
    per-try timeout is the latency bound), circuit breakers at the revision's
    concurrency cap x its replicas, and retries that go to another host.
    Timeouts follow ``stacks.timeouts``.
    """
    routing = spec.routing
    retries = routing.retries
    limits = timeouts(spec)
    lb = "ROUND_ROBIN" if routing.policy == "round_robin" else "LEAST_REQUEST"
    clusters = [_revision_cluster(name, rev, spec, namespace, lb) for rev in weights]
    clusters.append({"name": ADMIN_CLUSTER, "type": "STATIC", "connect_timeout": "1s",
                     "load_assignment": {"cluster_name": ADMIN_CLUSTER, "endpoints": [{"lb_endpoints": [
                         {"endpoint": {"address": _socket("127.0.0.1", ADMIN_PORT)}}]}]}})  # fmt: skip
    route: dict[str, Any] = {
        "weighted_clusters": {"clusters": [{"name": f"{name}-{r}", "weight": w} for r, w in weights.items()]},
        "timeout": f"{limits.route_ms / 1000:g}s",
        "retry_policy": {
            "retry_on": "connect-failure,refused-stream,retriable-status-codes",
            "retriable_status_codes": list(retries.retry_on),
            "num_retries": retries.max_retries,
            "per_try_timeout": f"{limits.per_try_ms / 1000:g}s",
            # a retry goes to another replica, as the local router's does
            "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
            "host_selection_retry_max_attempts": 3,
        },
    }  # fmt: skip
    ops_routes = [
        {"match": {"path": "/ready"}, "route": {"cluster": ADMIN_CLUSTER}},
        {"match": {"prefix": STATS_PATH}, "route": {"cluster": ADMIN_CLUSTER}},
    ]
    return {
        # admin can drain, quit and change log levels: loopback only; `ops` forwards the two read-only paths
        "admin": {"address": _socket("127.0.0.1", ADMIN_PORT)},
        "static_resources": {
            "listeners": [
                _listener("http", ROUTER_PORT, _hcm(name, name, [{"match": {"prefix": "/"}, "route": route}])),
                _listener("ops", OPS_PORT, _hcm("ops", "ops", ops_routes)),
            ],
            "clusters": clusters,
        },
    }


def router_replicas(spec: EndpointSpec) -> tuple[int, int]:
    """(min, max) router pods: the floor carries the declared QPS; the HPA may double it."""
    floor = max(ROUTER_MIN_REPLICAS, math.ceil(spec.traffic.qps / ROUTER_QPS_PER_REPLICA))
    return floor, 2 * floor


def router_objects(
    name: str, spec: EndpointSpec, namespace: str, weights: dict[str, int], settings: StackSettings | None = None
) -> list[dict[str, Any]]:
    settings = settings or StackSettings()
    full = f"{name}-router"
    labels = {"app.kubernetes.io/managed-by": "modelplane", "modelplane.dev/endpoint": name,
              "app.kubernetes.io/component": "router"}  # fmt: skip
    meta = {"name": full, "namespace": namespace, "labels": labels}
    config = yaml.safe_dump(envoy_config(name, spec, namespace, weights), sort_keys=False)
    lo, hi = router_replicas(spec)
    template_meta: dict[str, Any] = {"labels": labels}
    if settings.scrape == "annotations":
        template_meta["annotations"] = scrape_annotations(OPS_PORT, STATS_PATH)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    container = {
        "name": "envoy", "image": ENVOY_IMAGE,
        "args": ["-c", "/etc/envoy/envoy.yaml", "--concurrency", ROUTER_CPU],
        "ports": [{"name": "http", "containerPort": ROUTER_PORT}, {"name": "ops", "containerPort": OPS_PORT}],
        # requests = limits: Guaranteed QoS, the last class evicted under node pressure
        "resources": {"requests": {"cpu": ROUTER_CPU, "memory": "512Mi"},
                      "limits": {"cpu": ROUTER_CPU, "memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "ops"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/ready", "port": "ops"}, "periodSeconds": 10, "failureThreshold": 6},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/envoy"}],
    }  # fmt: skip
    pdb = spec.placement.pdb_max_unavailable
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"envoy.yaml": config}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            # no `replicas`: the HPA below owns it (a rendered count would reset it on every update)
            "spec": {
                "selector": {"matchLabels": labels},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                "template": {
                    "metadata": template_meta,
                    "spec": {
                        "automountServiceAccountToken": False,  # Envoy talks to no API
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": full}}],
                        "topologySpreadConstraints": spread,
                    },
                },
            },
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {**meta, "name": name},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": full},
                  "minReplicas": lo, "maxReplicas": hi,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": ROUTER_CPU_TARGET}}}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"maxUnavailable": int(pdb) if pdb.isdigit() else pdb, "selector": {"matchLabels": labels}}},
    ]  # fmt: skip


def scrape_annotations(port: int, path: str) -> dict[str, str]:
    """The ``prometheus.io/*`` pod annotations the common ``kubernetes-pods`` scrape job follows."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}
