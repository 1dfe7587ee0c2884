"""Pulumi stacks without the Pulumi CLI: the program runs under pulumi.runtime.set_mocks and we assert on
the resources it registers and their inputs; every rendered Kubernetes object validates against the
Kubernetes JSON schemas (kubernetes-validate)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml

from modelplane.compiler.compile import compile_graph
from modelplane.specs.base import NodeId
from modelplane.specs.serving import Endpoint, Routing
from modelplane.stacks.preview import RecordingMocks
from modelplane.stacks.render import Rendered, envoy_config, render_stack
from tests.conftest import EXAMPLES
from tests.extras import needs_aws, needs_gcp

K8S_VERSION = "1.31"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


MOCKS = RecordingMocks()


@pytest.fixture(autouse=True)
def _mocks() -> Iterator[None]:
    # a loop of its own: an asyncio.run() earlier in the session leaves none set, and the mocks need one
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    MOCKS.created.clear()
    pulumi.runtime.set_mocks(MOCKS, project="modelplane", stack="test", preview=False)  # type: ignore[arg-type]
    yield
    asyncio.set_event_loop(None)
    loop.close()


def _rendered(stack: str = "prod-gpu", env: str = "prod") -> Rendered:
    graph = compile_graph(EXAMPLES / "assistant-platform", env, use_cache=False).graph
    return render_stack(graph, stack)


def _by_type(typ: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, inputs) for t, name, inputs in MOCKS.created if t == typ]


def _after(resources: list[pulumi.Resource], check: Any) -> Any:
    return pulumi.Output.all(*[r.urn for r in resources]).apply(lambda _: check())


@needs_aws
@pulumi.runtime.test
def test_prod_stack_deployments_probes_pdb_autoscaler_and_router() -> Any:
    from modelplane.stacks.components import GpuServingStack

    rendered = _rendered()
    stack = GpuServingStack("prod-gpu", rendered)

    def check() -> None:
        deployments = {n: i for n, i in _by_type("kubernetes:apps/v1:Deployment")}
        vllm = {n: i for n, i in deployments.items() if "router" not in n}
        assert len(vllm) == len(rendered.endpoints) == 4  # one per endpoint on the stack
        grammar = next(i for n, i in vllm.items() if n.startswith("deployment-inference-grammar-prod-"))
        pod = grammar["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert c["command"] == ["vllm", "serve"] and c["args"] == rendered.endpoints["grammar-prod"]["args"]
        assert c["args"][c["args"].index("--max-num-seqs") + 1] == "1024"
        assert c["resources"]["limits"]["nvidia.com/gpu"] == c["resources"]["requests"]["nvidia.com/gpu"] == "1"
        assert c["startupProbe"]["httpGet"]["path"] == "/v1/models"
        assert c["readinessProbe"]["httpGet"]["path"] == "/v1/models"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"
        assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert pod["nodeSelector"] == {"modelplane.dev/pool": "h100-serving"}
        assert pod["volumes"][0]["emptyDir"]["medium"] == "Memory"
        assert "replicas" not in grammar["spec"]  # the HPA owns it
        assert pod["serviceAccountName"] == "modelplane-serving"

        pdbs = _by_type("kubernetes:policy/v1:PodDisruptionBudget")
        assert len(pdbs) == 8 and all("maxUnavailable" in i["spec"] for _, i in pdbs)  # a revision's, a router's
        hpas = {n: i for n, i in _by_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")}
        hpa = next(i for n, i in hpas.items() if "grammar-prod-r" in n and not n.endswith("-router"))
        router_hpa = hpas["horizontalpodautoscaler-inference-grammar-prod-router"]["spec"]
        assert (router_hpa["minReplicas"], router_hpa["maxReplicas"]) == (40, 80)  # 200,000 QPS / 5,000 per router
        router = deployments["deployment-inference-grammar-prod-router"]
        assert "replicas" not in router["spec"]
        envoy_c = router["spec"]["template"]["spec"]["containers"][0]
        assert envoy_c["resources"]["requests"] == envoy_c["resources"]["limits"]
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (180, 360)
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900  # slow down
        assert hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0  # fast up

        configmaps = {n: i for n, i in _by_type("kubernetes:core/v1:ConfigMap")}
        envoy = yaml.safe_load(configmaps["configmap-inference-grammar-prod-router"]["data"]["envoy.yaml"])
        cluster, admin = envoy["static_resources"]["clusters"]
        assert admin["name"] == "envoy-admin" and envoy["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
        assert cluster["lb_policy"] == "LEAST_REQUEST" and cluster["least_request_lb_config"]["choice_count"] == 2
        revision = rendered.endpoints["grammar-prod"]["revision"]
        route = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        weighted = route["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]
        assert weighted["clusters"] == [{"name": f"grammar-prod-{revision}", "weight": 100}]

        groups = {n: i for n, i in _by_type("aws:eks/nodeGroup:NodeGroup")}
        h100 = groups["prod-gpu-h100-serving"]
        assert h100["instanceTypes"] == ["p5.48xlarge"] and h100["amiType"] == "AL2023_x86_64_NVIDIA"
        assert h100["scalingConfig"] == {"desiredSize": 24, "maxSize": 64, "minSize": 24}
        assert h100["taints"] == [{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "present"}]
        assert h100["labels"]["modelplane.dev/pool"] == "h100-serving"
        l40s = groups["prod-gpu-l40s-serving"]
        assert l40s["instanceTypes"] == ["g6e.12xlarge"]
        # GPUs: 64 nodes x 8 H100 = 512 >= what the endpoints on the pool can ask for at max replicas
        h100_gpus = sum(
            e["replicas"][1] * e["gpus_per_replica"] for e in rendered.endpoints.values() if e["pool"] == "h100-serving"
        )
        assert h100_gpus <= 64 * 8

    return _after([stack, *stack.objects.values(), *stack.node_pools], check)


def test_canary_weights_in_the_envoy_config() -> None:
    graph = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph
    rendered = render_stack(graph, "prod-gpu", weights={"grammar-prod": {"rold": 75, "rnew": 25}})
    cm = next(
        o for o in rendered.objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "grammar-prod-router"
    )
    envoy = yaml.safe_load(cm["data"]["envoy.yaml"])
    assert [c["name"] for c in envoy["static_resources"]["clusters"]] == [
        "grammar-prod-rold",
        "grammar-prod-rnew",
        "envoy-admin",
    ]
    route = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    split = route["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
    assert split == [{"name": "grammar-prod-rold", "weight": 75}, {"name": "grammar-prod-rnew", "weight": 25}]
    ep = graph.nodes[next(n for n in graph.nodes if str(n) == "endpoint/grammar-prod")].model
    assert isinstance(ep, Endpoint)
    rr = ep.spec.model_copy(update={"routing": Routing(policy="round_robin")})
    assert envoy_config("grammar-prod", rr, "x", {"r": 100})["static_resources"]["clusters"][0]["lb_policy"] == (
        "ROUND_ROBIN"
    )


CRD_GROUPS = {"monitoring.coreos.com", "keda.sh"}


@pytest.mark.parametrize(("stack", "env"), [("prod-gpu", "prod"), ("staging-gpu", "prod")])
def test_every_rendered_object_validates_against_the_kubernetes_schema(stack: str, env: str) -> None:
    rendered = _rendered(stack, env)
    kinds = set()
    for obj in rendered.objects:
        kinds.add(obj["kind"])
        if obj["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue  # a custom resource (Prometheus Operator, KEDA): kubernetes-validate ships no schema for it
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    assert kinds >= {"Namespace", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                     "ConfigMap"}  # fmt: skip


@needs_gcp
@pulumi.runtime.test
def test_gke_node_pools() -> Any:
    from modelplane.stacks.components import GpuServingStack

    stack = GpuServingStack("staging", _rendered("staging-gpu"))

    def check() -> None:
        ((name, pool),) = _by_type("gcp:container/nodePool:NodePool")
        assert name == "staging-gpu-l4-pool" and pool["location"] == "us-central1"
        config = pool["nodeConfig"]
        assert config["machineType"] == "g2-standard-24"
        (accel,) = config["guestAccelerators"]
        assert accel["type"] == "nvidia-l4" and accel["count"] == 2
        assert accel["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
        assert config["taints"] == [{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "present"}]
        assert pool["autoscaling"] == {"maxNodeCount": 8, "minNodeCount": 1}

    return _after([stack, *stack.node_pools], check)


@needs_aws
@pulumi.runtime.test
def test_eks_node_role_is_created_unless_given() -> Any:
    from modelplane.stacks.components import GpuServingStack

    stack = GpuServingStack("prod", _rendered())

    def check() -> None:
        assert len(_by_type("aws:iam/role:Role")) == 1
        attached = sorted(i["policyArn"] for _, i in _by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"))
        assert attached[0].endswith("AmazonEC2ContainerRegistryReadOnly") and len(attached) == 3

    return _after([stack, *stack.node_pools], check)


@needs_aws  # the golden lists the EKS node group and IAM role
def test_stack_preview_output_is_golden(tmp_path: Path, update_goldens: bool) -> None:
    cmd = [sys.executable, "-m", "modelplane", "stack", "preview", "prod-gpu", "--env", "prod",
           "-C", str(EXAMPLES / "assistant-platform"), "--render", str(tmp_path / "k8s")]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    golden = GOLDEN / "stack-preview-prod.txt"
    if update_goldens:
        golden.write_text(out)
    assert out == golden.read_text()
    written = sorted((tmp_path / "k8s").glob("*.yaml"))
    assert len(written) == 39
    for path in written:  # what --render writes is what the schemas accept
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), K8S_VERSION, strict=True)


def test_missing_pulumi_cli_is_a_clear_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelplane.errors import ActionFailed
    from modelplane.runtime.provisioners.pulumi import pulumi_command

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("MODELPLANE_PULUMI_ROOT", raising=False)
    with pytest.raises(ActionFailed, match="the Pulumi CLI is needed to provision this stack") as exc:
        pulumi_command()
    assert "https://www.pulumi.com/docs/install/" in exc.value.details["hint"]


@needs_aws
@pulumi.runtime.test
def test_the_provisioner_program_renders_the_recorded_canary_weights() -> Any:
    """What `apply` runs through the Automation API: the same component, with the serving record's weights."""
    from modelplane.compiler.plan.execution import stack_inputs
    from modelplane.runtime.provisioners.pulumi import build_stack
    from modelplane.specs.platform import GpuPool
    from modelplane.stacks.render import EndpointInput, revision_objects
    from modelplane.stacks.settings import StackSettings

    # the plan's inputs of the stack, with two revisions of grammar-prod (what a canary has running)
    graph = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph
    inputs = stack_inputs(graph, graph, "prod-gpu")
    assert inputs is not None
    ep = graph.nodes[NodeId("endpoint", "grammar-prod")]
    model = graph.nodes[NodeId("model", ep.spec["model"])]
    planned = inputs.endpoints["grammar-prod"]
    pool = GpuPool.model_validate(
        next(p for p in inputs.pools if p["accelerator"] == ep.spec["resources"]["accelerator"])
    )
    typed = EndpointInput(ep.name, ep.model.spec, model.model)  # type: ignore[arg-type]
    settings = StackSettings.model_validate(inputs.settings)
    objects = {r: revision_objects(typed, r, inputs.namespace, pool, settings) for r in ("rstable", "rcanary")}
    eps = {**inputs.endpoints, "grammar-prod": planned.model_copy(update={"objects": objects, "revision": "rcanary"})}
    record = {"grammar-prod": {"rstable": {"role": "stable", "weight": 95}, "rcanary": {"role": "canary", "weight": 5}}}
    stack = build_stack(inputs.model_copy(update={"endpoints": eps}), record)

    def check() -> None:
        cms = {n: i for n, i in _by_type("kubernetes:core/v1:ConfigMap")}
        envoy = yaml.safe_load(cms["configmap-inference-grammar-prod-router"]["data"]["envoy.yaml"])
        route = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        split = route["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"]
        assert split == [{"name": "grammar-prod-rstable", "weight": 95}, {"name": "grammar-prod-rcanary", "weight": 5}]

    return _after([stack, *stack.objects.values(), *stack.node_pools], check)


async def test_prometheus_stats_reads_envoy_cluster_metrics_per_revision() -> None:
    """Against a stand-in Prometheus HTTP API (a test double for the query endpoint only)."""
    from aiohttp import web

    from modelplane.runtime.provisioners.pulumi import prometheus_stats

    seen: list[str] = []

    async def query(request: web.Request) -> web.Response:
        q = request.query["query"]
        seen.append(q)
        canary = 'envoy_cluster_name="ep-rc"' in q
        median = "histogram_quantile(0.5," in q
        value = (0.09 if median else 0.18) if "histogram_quantile" in q else (2 if "_xx" in q else 400) if canary else 0
        if "histogram_quantile" in q and not canary:
            value = 0.12
        return web.json_response({"status": "success", "data": {"result": [{"value": [0, str(value)]}]}})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        stats = await prometheus_stats(f"http://127.0.0.1:{port}", "ep", {"rs": {}, "rc": {}}, 120)
    finally:
        await runner.cleanup()
    rc = {"requests": 400, "errors": 2, "error_rate": 0.005, "p50_ms": 90.0, "p99_ms": 180.0}  # seconds -> ms
    assert stats["rc"] == rc
    assert any("envoy_cluster_upstream_rq_time_bucket" in q and "[120s]" in q for q in seen)
