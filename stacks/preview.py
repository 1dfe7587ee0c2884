"""`modelplane stack preview`: run a stack's Pulumi program offline (under Pulumi's mocks, no CLI, no
cloud) and list every resource it would create with its key inputs; optionally write the Kubernetes
objects as YAML."""

from __future__ import annotations

import asyncio
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelplane.specs.providers import registry as providers
from modelplane.stacks.render import Rendered


@dataclass
class Row:
    type: str
    name: str
    summary: str


class RecordingMocks:
    """Pulumi mocks that record every registered resource; outputs echo inputs, names as a provider would."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        self.created.append((args.typ, args.name, dict(args.inputs)))
        out = dict(args.inputs)
        md = dict(out.get("metadata") or {})
        md.setdefault("name", args.name)
        out["metadata"] = md
        out.setdefault("arn", f"arn:preview:{args.name}")
        out.setdefault("name", args.name)
        return f"{args.name}-preview", out

    def call(self, args: Any) -> dict[str, Any]:
        return {}


def missing_extras(rendered: Rendered) -> list[str]:
    provider = providers.get(rendered.provider)  # the package its node pools need, and the extra installing it
    package, extra = provider.pool_package, provider.extra
    if package and extra and rendered.pools and importlib.util.find_spec(package) is None:
        return [extra]
    return []


def preview(rendered: Rendered) -> tuple[list[Row], list[str]]:
    """The resources the program registers (in order) and the extras it had to leave out."""
    import pulumi

    from modelplane.stacks.components import GpuServingStack

    missing = missing_extras(rendered)
    if missing:
        rendered = Rendered(rendered.stack, "kubernetes", rendered.namespace, [], rendered.region,
                            rendered.settings, rendered.objects, rendered.endpoints)  # fmt: skip
    mocks = RecordingMocks()

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> Any:
        stack = GpuServingStack(rendered.stack, rendered)
        return pulumi.Output.all(*[r.urn for r in [stack, *stack.objects.values(), *stack.node_pools]])

    # Pulumi's mocks register resources on the thread's current event loop. After any asyncio.run() in this
    # process (the language server, a test, an embedding program) there is none, and set_mocks fails; so
    # the preview runs on a loop of its own and puts the caller's back.
    policy = asyncio.get_event_loop_policy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            callers: asyncio.AbstractEventLoop | None = policy.get_event_loop()
    except RuntimeError:
        callers = None
    loop = asyncio.new_event_loop()
    policy.set_event_loop(loop)
    try:
        pulumi.runtime.set_mocks(mocks, project="modelplane", stack=rendered.stack, preview=False)  # type: ignore[arg-type]
        run()
    finally:
        policy.set_event_loop(callers)
        loop.close()
    rows = [Row(t, n, summarize(t, _ints(i))) for t, n, i in mocks.created]
    # registration is asynchronous: sort, so the listing is the same on every run
    return sorted(rows, key=lambda r: (_ORDER.get(r.type.rsplit(":", 1)[-1], 50), r.type, r.name)), missing


_ORDER = {"GpuServingStack": 0, "Role": 1, "RolePolicyAttachment": 2, "NodeGroup": 3, "NodePool": 3, "Namespace": 4}


def _ints(value: Any) -> Any:
    """Mocks hand numbers back as floats; show 24, not 24.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def summarize(typ: str, inputs: dict[str, Any]) -> str:
    kind = typ.rsplit(":", 1)[-1]
    spec = inputs.get("spec") or {}
    if kind == "Deployment":
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        gpus = c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
        where = f" on pool {pod['nodeSelector']['modelplane.dev/pool']}" if pod.get("nodeSelector") else ""
        per = f" x {gpus} GPU" if gpus else ""
        # no `replicas` on an autoscaled Deployment: its HPA's row says how many
        count = f"{spec['replicas']} replicas" if "replicas" in spec else "replicas from its autoscaler"
        return f"{c['image']}, {count}{per}{where}; args: {' '.join(c.get('args', []))}"
    if kind == "HorizontalPodAutoscaler":
        metric = spec["metrics"][0]
        on = (
            metric["pods"]["metric"]["name"]
            if metric["type"] == "Pods"
            else f"{metric['resource']['name']} at {metric['resource']['target']['averageUtilization']}%"
        )
        return f"{spec['minReplicas']}..{spec['maxReplicas']} replicas on {on}"
    if kind == "ScaledObject":
        return f"{spec['minReplicaCount']}..{spec['maxReplicaCount']} replicas on Prometheus"
    if kind == "PodDisruptionBudget":
        return f"maxUnavailable {spec.get('maxUnavailable')}"
    if kind == "Service":
        port = spec["ports"][0]
        if spec.get("clusterIP") == "None":
            return f"headless: pod IPs, port {port['port']} ({port['targetPort']})"
        return f"port {port['port']} -> {port['targetPort']}"
    if kind == "ServiceAccount":
        annotations = inputs["metadata"].get("annotations", {})
        return ", ".join(f"{k}={v}" for k, v in annotations.items()) or "no cloud identity annotations"
    if kind == "ConfigMap" and "envoy.yaml" in inputs.get("data", {}):
        envoy = yaml.safe_load(inputs["data"]["envoy.yaml"])
        clusters = envoy["static_resources"]["clusters"]
        timeouts = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        r = timeouts["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
        route = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        split = route["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
        return (
            f"envoy {clusters[0]['lb_policy']}, timeout {r['timeout']} (per try {r['retry_policy']['per_try_timeout']});"
            " weights " + ", ".join(f"{c['name']}={c['weight']}" for c in split)
        )
    if kind == "NodeGroup":
        sc = inputs["scalingConfig"]
        taints = ", ".join(f"{t['key']}={t['value']}:{t['effect']}" for t in inputs.get("taints", []))
        return (
            f"{','.join(inputs['instanceTypes'])} x {sc['minSize']}..{sc['maxSize']} nodes{_gpus(inputs['labels'], sc['minSize'], sc['maxSize'])}"
            f", {inputs['amiType']}, taint {taints}"
        )
    if kind == "NodePool":
        cfg = inputs["nodeConfig"]
        acc = cfg["guestAccelerators"][0]
        auto = inputs["autoscaling"]
        lo, hi = auto["minNodeCount"], auto["maxNodeCount"]
        return f"{cfg['machineType']} with {acc['count']} x {acc['type']}, {lo}..{hi} nodes ({lo * acc['count']}..{hi * acc['count']} GPUs)"
    if kind == "Namespace":
        return str(inputs["metadata"]["name"])
    return ""


def _gpus(labels: dict[str, str], lo: int, hi: int) -> str:
    per = int(labels.get("modelplane.dev/gpus-per-node", 0))
    accel = labels.get("modelplane.dev/accelerator", "GPU")
    return f" ({per} x {accel} per node: {lo * per}..{hi * per} GPUs)" if per else ""


def write_objects(rendered: Rendered, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for i, obj in enumerate(rendered.objects):
        path = directory / f"{i:03d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written
