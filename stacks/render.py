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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.load.secrets import kubernetes_arg, names_in, process_env_var, source
from modelplane.specs.base import NodeId
from modelplane.specs.common import duration_seconds
from modelplane.specs.models import Model
from modelplane.specs.platform import GpuPool, Stack
from modelplane.specs.serving import EndpointSpec, ScalePolicy
from modelplane.stacks.engine import VLLM_PORT, command, revision_id
from modelplane.stacks.observability import engine_pod_metadata, stack_objects
from modelplane.stacks.router import ENVOY_IMAGE, ROUTER_PORT, envoy_config, router_objects
from modelplane.stacks.settings import StackSettings

__all__ = ["ENVOY_IMAGE", "ROUTER_PORT", "envoy_config", "router_objects"]  # kept importable from here

POOL_LABEL = "modelplane.dev/pool"
GPU = "nvidia.com/gpu"


@dataclass
class Rendered:
    stack: str
    provider: str
    namespace: str
    pools: list[GpuPool]
    region: str | None = None
    settings: StackSettings = field(default_factory=StackSettings)
    objects: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per endpoint: revision, weights, gpus, replicas (what preview lists)."""


@dataclass(frozen=True)
class EndpointInput:
    """One endpoint as the renderer sees it: its typed spec and its model's."""

    name: str
    spec: EndpointSpec
    model: Model


def _meta(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels}


def _labels(endpoint: str, revision: str | None = None) -> dict[str, str]:
    out = {"app.kubernetes.io/managed-by": "modelplane", "modelplane.dev/endpoint": endpoint}
    if revision:
        out["modelplane.dev/revision"] = revision
    return out


def render_stack(graph: LineageGraph, stack_name: str, weights: dict[str, dict[str, int]] | None = None) -> Rendered:
    """Every object of ``stack/<stack_name>``; ``weights`` per endpoint (default: its revision at 100)."""
    stack = graph.nodes[NodeId("stack", stack_name)].model
    assert isinstance(stack, Stack)
    spec = stack.spec
    settings = StackSettings.model_validate(spec.settings)
    ns = spec.namespace
    out = Rendered(stack_name, spec.provider, ns, list(spec.gpu_pools), spec.region, settings)
    out.objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
        "app.kubernetes.io/managed-by": "modelplane"}}})  # fmt: skip
    out.objects.append(service_account(ns, settings))
    out.objects += stack_objects(ns, settings)
    for node in graph.iter_kind("Endpoint"):
        ep_spec = node.model.spec
        assert isinstance(ep_spec, EndpointSpec)
        if ep_spec.stack != stack_name:
            continue
        model_node = graph.nodes[NodeId("model", ep_spec.model)]
        model = model_node.model
        assert isinstance(model, Model)
        ep = EndpointInput(node.name, ep_spec, model)
        revision = revision_id(node.data, model_node.data)
        split = (weights or {}).get(ep.name) or {revision: 100}
        pool = _pool_for(out.pools, ep_spec.resources.accelerator)
        out.objects += revision_objects(ep, revision, ns, pool, settings, _declared(graph))
        out.objects += router_objects(ep.name, ep_spec, ns, split, settings)
        out.endpoints[ep.name] = {
            "revision": revision,
            "weights": split,
            "image": ep_spec.engine.image,
            "args": _vllm_args(ep),
            "gpus_per_replica": ep_spec.resources.gpus_per_replica,
            "accelerator": ep_spec.resources.accelerator,
            "pool": pool.name if pool else None,
            "replicas": [ep_spec.autoscaling.min_replicas, ep_spec.autoscaling.max_replicas],
        }
    return out


def service_account(namespace: str, settings: StackSettings) -> dict[str, Any]:
    """The identity the model-serving pods run as: annotated for IRSA / Workload Identity from the stack's settings,
    so an ``s3://`` or ``gs://`` artifact is read with the cloud role, not node credentials."""
    meta = _meta(settings.service_account, namespace, {"app.kubernetes.io/managed-by": "modelplane"})
    annotations = settings.identity_annotations()
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def _declared(graph: LineageGraph) -> dict[str, Any]:
    specs = getattr(graph, "specs", None)
    project = getattr(specs, "project", None)
    return project.secrets_for(specs.environment) if project is not None and specs is not None else {}


def _vllm_args(ep: EndpointInput) -> list[str]:
    return command(ep.spec, ep.model.metadata.name, ep.model.spec, VLLM_PORT)


def _pool_for(pools: list[GpuPool], accelerator: str) -> GpuPool | None:
    return next((p for p in pools if p.accelerator == accelerator), None)


def container_args(
    args: list[str], declared: Mapping[str, Any] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Container arguments and env for Kubernetes: each ``${secret.NAME}`` becomes ``$(MP_SECRET_NAME)``, which
    the kubelet expands from an env entry ``valueFrom.secretKeyRef`` (``compiler.secrets.source``). The value
    is never in an object, the plan or Pulumi's state: only the Secret's name and key are."""
    names = names_in(args)
    if not names:
        return args, []
    env = []
    for name in names:
        src = source(name, declared, "kubernetes")
        env.append({"name": process_env_var(name), "valueFrom": {"secretKeyRef": {"name": src.secret, "key": src.key}}})
    return [kubernetes_arg(a) for a in args], env


def revision_objects(
    ep: EndpointInput,
    revision: str,
    namespace: str,
    pool: GpuPool | None,
    settings: StackSettings,
    secrets: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    spec = ep.spec
    res = spec.resources
    health = spec.health
    period = int(duration_seconds(health.period))
    placement = spec.placement
    full = f"{ep.name}-{revision}"
    labels = _labels(ep.name, revision)
    limits: dict[str, str] = {GPU: str(res.gpus_per_replica), "cpu": res.cpu, "memory": res.memory}
    args, secret_env = container_args(_vllm_args(ep), secrets)
    pod: dict[str, Any] = {
        "serviceAccountName": settings.service_account,
        "containers": [
            {
                "name": "vllm",
                "image": spec.engine.image,
                "command": ["vllm", "serve"],
                "args": args,
                "ports": [{"name": "http", "containerPort": VLLM_PORT}],
                "resources": {"requests": dict(limits), "limits": limits},
                # model load takes minutes: the startup probe allows it, then readiness takes over
                "startupProbe": {
                    "httpGet": {"path": "/v1/models", "port": VLLM_PORT},
                    "periodSeconds": period,
                    "failureThreshold": health.startup_failure_threshold,
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
        "terminationGracePeriodSeconds": int(duration_seconds(health.drain_grace)) + 5,
        "topologySpreadConstraints": [
            {
                "maxSkew": placement.max_skew,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels},
            }
        ],
    }
    if secret_env:
        pod["containers"][0]["env"] = secret_env
    if pool is not None:
        pod["nodeSelector"] = {POOL_LABEL: pool.name}
    if placement.zones:
        pod["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                                   "values": list(placement.zones)}]}]}}}  # fmt: skip
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(full, namespace, labels),
        # no `replicas`: the HPA (or KEDA's) owns it; a rendered count would reset the scale on every update. The
        # HPA raises a new Deployment's 1 pod to minReplicas at once (below the minimum, no scale-up policy applies)
        "spec": {
            "selector": {"matchLabels": labels},
            # no spare GPUs to surge onto: replace one pod at a time
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {"metadata": engine_pod_metadata(labels, settings), "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(full, namespace, labels),
        # headless: Envoy's STRICT_DNS then resolves every ready pod, so power of two choices, slow start and
        # outlier ejection act per replica (a ClusterIP would be one host to Envoy, balanced by kube-proxy at random).
        # A headless Service maps no ports: Envoy dials the pod IPs at vLLM's port, which this port only names
        "spec": {
            "clusterIP": "None",
            "selector": labels,
            "ports": [{"name": "http", "port": VLLM_PORT, "targetPort": "http"}],
        },
    }
    unavailable = placement.pdb_max_unavailable
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(full, namespace, labels),
        "spec": {
            "maxUnavailable": int(unavailable) if unavailable.isdigit() else unavailable,
            "selector": {"matchLabels": labels},
        },
    }
    return [deployment, service, pdb, autoscaler(spec, full, namespace, labels, settings)]


# what each autoscaling.metric reads: per pod through prometheus-adapter (HPA), or the query (KEDA)
_HPA_METRIC = {
    "concurrency": "vllm_requests_in_flight",
    "queue_depth": "vllm_num_requests_waiting",
    "qps": "vllm_requests_per_second",
    "kv_usage": "vllm_kv_cache_usage_perc",
}


def _keda_query(metric: str, namespace: str, full: str) -> str:
    # scraped series carry namespace and pod (not the Deployment): the revision's pods are named `<full>-<hash>-<id>`
    sel = f'{{namespace="{namespace}",pod=~"{full}-[a-z0-9]+-[a-z0-9]+"}}'
    if metric == "queue_depth":
        return f"sum(vllm:num_requests_waiting{sel})"
    if metric == "qps":
        return f"sum(rate(vllm:request_success_total{sel}[1m]))"
    if metric == "kv_usage":
        return f"sum(vllm:kv_cache_usage_perc{sel})"  # KEDA divides the value by the threshold: a sum, as the HPA's
    return f"sum(vllm:num_requests_running{sel}) + sum(vllm:num_requests_waiting{sel})"


def _scale_policy(p: ScalePolicy) -> dict[str, Any]:
    return {
        "stabilizationWindowSeconds": int(duration_seconds(p.stabilization)),
        "policies": [{"type": "Percent", "value": p.max_percent_per_period,
                      "periodSeconds": int(duration_seconds(p.period))}],
    }  # fmt: skip


def autoscaler(
    spec: EndpointSpec, full: str, namespace: str, labels: dict[str, str], settings: StackSettings
) -> dict[str, Any]:
    scaling = spec.autoscaling
    target = spec.scale_target()
    if settings.autoscaler == "keda":
        query = _keda_query(scaling.metric, namespace, full)
        return {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": _meta(full, namespace, labels),
            "spec": {
                "scaleTargetRef": {"name": full},
                "minReplicaCount": scaling.min_replicas,
                "maxReplicaCount": scaling.max_replicas,
                "triggers": [{"type": "prometheus", "metadata": {
                    "serverAddress": settings.prometheus_url, "query": query, "threshold": f"{target:g}"}}],
            },
        }  # fmt: skip
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(full, namespace, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": full},
            # an HPA cannot scale to zero: min_replicas 0 keeps one replica
            "minReplicas": max(1, scaling.min_replicas),
            "maxReplicas": scaling.max_replicas,
            # the spec's metric per pod, through the prometheus-adapter rules the stack renders (stacks.observability:
            # vllm_requests_in_flight is vllm:num_requests_running + vllm:num_requests_waiting)
            "metrics": [{"type": "Pods", "pods": {"metric": {"name": _HPA_METRIC[scaling.metric]},
                                                  "target": {"type": "AverageValue", "averageValue": f"{target:g}"}}}],
            "behavior": {"scaleUp": _scale_policy(scaling.scale_up), "scaleDown": _scale_policy(scaling.scale_down)},
        },
    }  # fmt: skip
