"""Every route of both examples' Kubernetes renders reaches a port a container listens on, and every metric a
rendered object queries exists (vLLM's series from its wheel, Envoy's, or a rule the render includes).

The proof runs on ``tests/stacks/k8s_network.py``'s model of Services, DNS and pods. The quickstart ships only
a local stack, so its endpoint is rendered onto a Kubernetes stack added to a copy of the example (a Stack is
in every environment of a project: adding one to the example would make its dev apply provision it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelplane.compiler.compile import compile_graph
from modelplane.specs.platform import Stack
from modelplane.stacks.metric_names import ENVOY_SERIES, promql_names, vllm_series
from modelplane.stacks.render import Rendered, render_stack
from tests.conftest import EXAMPLES
from tests.stacks.k8s_network import Network, Pod, Unreachable, envoy_bootstrap

QUICKSTART_STACK = {
    "apiVersion": "modelplane/v1",
    "kind": "Stack",
    "metadata": {"name": "gpu-cluster", "owner": "team-platform", "description": "The quickstart on Kubernetes."},
    "spec": {
        "provider": "kubernetes",
        "namespace": "quickstart",
        "gpu_pools": [{"name": "l4", "accelerator": "L4", "gpus_per_node": 1, "min_nodes": 2, "max_nodes": 6}],
    },
}


def quickstart_on_kubernetes(tmp: Path) -> Path:
    root = tmp / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    (root / "specs" / "cluster.yaml").write_text(yaml.safe_dump(QUICKSTART_STACK, sort_keys=False))
    project = yaml.safe_load((root / "modelplane.yaml").read_text())
    project["environments"]["cluster"] = {"variables": {"stack": "gpu-cluster"}}
    (root / "modelplane.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return root


def renders(tmp: Path, settings: dict[str, Any] | None = None) -> Iterator[Rendered]:
    """Every Kubernetes stack of both examples, rendered (``settings`` over each stack's own)."""
    for root, env, stacks in (
        (EXAMPLES / "assistant-platform", "prod", ("prod-gpu", "staging-gpu")),
        (quickstart_on_kubernetes(tmp), "cluster", ("gpu-cluster",)),
    ):
        graph = compile_graph(root, env, use_cache=False).graph
        for stack in stacks:
            if not settings:
                yield render_stack(graph, stack)
                continue
            node = next(n for n in graph.iter_kind("Stack") if n.name == stack)
            assert isinstance(node.model, Stack)
            # the typed model may be shared with later compiles of the same document: put its settings back
            before = dict(node.model.spec.settings)
            node.model.spec.settings.update(settings)
            try:
                yield render_stack(graph, stack)
            finally:
                node.model.spec.settings.clear()
                node.model.spec.settings.update(before)


# ---- reachability -------------------------------------------------------------------------------------------


def _is_vllm(pod: Pod, container_name: str) -> bool:
    c = next(c for c in pod.containers if c.name == container_name)
    return bool(c.raw.get("command", [])[:2] == ["vllm", "serve"])


def route_problems(rendered: Rendered) -> list[str]:
    """Each way a request along a rendered route would not arrive at a listening vLLM (empty: all arrive)."""
    net = Network(rendered.objects)
    ns = rendered.namespace
    problems: list[str] = []
    routers = [p for p in net.pods if p.labels.get("app.kubernetes.io/component") == "router"]
    assert routers, "no router rendered"
    for router in routers:
        envoy = next(c for c in router.containers if "envoy" in c.raw["image"])
        boot = envoy_bootstrap(
            envoy.raw["args"][envoy.raw["args"].index("-c") + 1],
            envoy.raw,
            next(
                o for o in rendered.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == router.deployment
            )["spec"]["template"]["spec"],
            ns,
            {
                (o["metadata"]["namespace"], o["metadata"]["name"]): o
                for o in rendered.objects
                if o["kind"] == "ConfigMap"
            },
        )
        endpoint = router.labels["modelplane.dev/endpoint"]
        # clients -> the endpoint's Service -> Envoy's listener that routes to the revisions
        try:
            svc = net.services[(ns, endpoint)]
            for sp in svc.ports:
                for _pod, c in net.connect(endpoint, sp["port"], ns, f"client -> Service {endpoint}:{sp['port']}"):
                    assert c is envoy, f"{endpoint}:{sp['port']} arrives at {c.name}, not Envoy"
        except Unreachable as e:
            problems.append(str(e))
        clusters = {c["name"]: c for c in boot["static_resources"]["clusters"]}
        for listener in boot["static_resources"]["listeners"]:
            hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
            for vh in hcm["route_config"]["virtual_hosts"]:
                for route in vh["routes"]:
                    r = route["route"]
                    names = [w["name"] for w in r["weighted_clusters"]["clusters"]] if "weighted_clusters" in r else [
                        r["cluster"]]  # fmt: skip
                    for name in names:
                        problems += _cluster_problems(net, ns, clusters.get(name), name, endpoint, listener["name"])
    # the kubelet probes every container at the pod IP
    for pod in net.pods:
        for c in pod.containers:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                spec = c.raw.get(probe, {}).get("httpGet")
                if spec is None:
                    continue
                port = spec["port"] if isinstance(spec["port"], int) else pod.named_port(spec["port"])
                try:
                    if port is None:
                        raise Unreachable(f"{pod.deployment} {probe}: no container port named {spec['port']!r}")
                    pod.accept(port, f"kubelet {probe} of {pod.deployment}")
                except Unreachable as e:
                    problems.append(str(e))
    return problems


def _cluster_problems(
    net: Network, ns: str, cluster: dict[str, Any] | None, name: str, endpoint: str, listener: str
) -> list[str]:
    if cluster is None:
        return [f"router {endpoint} listener {listener} routes to cluster {name}, which is not defined"]
    if cluster["name"] == "envoy-admin":
        return []  # Envoy's own admin interface on loopback (health and stats for the probes and Prometheus)
    out = []
    for group in cluster["load_assignment"]["endpoints"]:
        for lb in group["lb_endpoints"]:
            addr = lb["endpoint"]["address"]["socket_address"]
            what = f"router {endpoint} cluster {name} -> {addr['address']}:{addr['port_value']}"
            if cluster["type"] not in ("STRICT_DNS", "LOGICAL_DNS"):
                out.append(f"{what}: cluster type {cluster['type']} does not resolve a Service's DNS name")
                continue
            try:
                arrived = net.connect(addr["address"], int(addr["port_value"]), ns, what)
            except Unreachable as e:
                out.append(str(e))
                continue
            for pod, c in arrived:
                if not _is_vllm(pod, c.name) or pod.deployment != name:
                    out.append(f"{what}: arrives at {c.name} of {pod.deployment}, not the vLLM of revision {name}")
    return out


# ---- scraping and metric names ------------------------------------------------------------------------------


def scraped(rendered: Rendered) -> dict[str, list[str]]:
    """Deployment -> the problems of scraping its pods' metrics ([] when Prometheus scrapes them)."""
    net = Network(rendered.objects)
    monitors = [o for o in rendered.objects if o["kind"] == "PodMonitor"]
    out: dict[str, list[str]] = {}
    for pod in net.pods:
        problems: list[str] = []
        found = False
        ann = pod.annotations
        if ann.get("prometheus.io/scrape") == "true":
            found = True
            try:
                pod.accept(int(ann["prometheus.io/port"]), f"Prometheus scraping {pod.deployment}")
            except (Unreachable, KeyError, ValueError) as e:
                problems.append(str(e))
        for mon in monitors:
            sel = mon["spec"]["selector"].get("matchLabels", {})
            if mon["metadata"]["namespace"] != pod.namespace or any(pod.labels.get(k) != v for k, v in sel.items()):
                continue
            found = True
            for ep in mon["spec"]["podMetricsEndpoints"]:
                port = pod.named_port(ep["port"])
                try:
                    if port is None:
                        raise Unreachable(f"PodMonitor {mon['metadata']['name']}: no port named {ep['port']!r}")
                    pod.accept(port, f"PodMonitor {mon['metadata']['name']} scraping {pod.deployment}")
                except Unreachable as e:
                    problems.append(str(e))
        out[pod.deployment] = problems if found else [f"nothing scrapes {pod.deployment}'s metrics"]
    return out


async def analysis_queries(rendered: Rendered) -> list[str]:
    """The PromQL the canary analysis sends for each endpoint (captured from a stand-in Prometheus API)."""
    from aiohttp import web

    from modelplane.runtime.provisioners.pulumi import prometheus_stats

    seen: list[str] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(request.query["query"])
        return web.json_response({"status": "success", "data": {"result": []}})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        for name, ep in rendered.endpoints.items():
            await prometheus_stats(f"http://127.0.0.1:{port}", name, {ep["revision"]: {}, "rcanary": {}}, 60)
    finally:
        await runner.cleanup()
    return seen


def derived_series(rendered: Rendered) -> tuple[dict[str, str], list[str]]:
    """(metric the render's rules derive -> the query deriving it, the rules' source queries)."""
    derived: dict[str, str] = {}
    sources: list[str] = []
    for o in rendered.objects:
        if o["kind"] == "ConfigMap" and o["metadata"].get("labels", {}).get("modelplane.dev/config") == (
            "prometheus-adapter-rules"
        ):
            for key in o["data"]:
                for rule in yaml.safe_load(o["data"][key]).get("rules", []):
                    derived[rule["name"]["as"]] = rule["metricsQuery"]
                    sources += [rule["seriesQuery"], rule["metricsQuery"]]
        if o["kind"] == "PrometheusRule":
            for group in o["spec"]["groups"]:
                for rule in group["rules"]:
                    if "record" in rule:
                        derived[rule["record"]] = rule["expr"]
                        sources.append(rule["expr"])
    return derived, sources


async def metric_problems(rendered: Rendered) -> list[str]:
    exported = vllm_series()
    derived, rule_sources = derived_series(rendered)
    problems = []
    queries: list[tuple[str, str]] = [(f"rule source {q!r}", q) for q in rule_sources]
    for o in rendered.objects:
        what = f"{o['kind']} {o['metadata']['name']}"
        if o["kind"] == "HorizontalPodAutoscaler":
            for m in o["spec"]["metrics"]:
                if m["type"] in ("Pods", "Object", "External"):
                    name = m[m["type"].lower()]["metric"]["name"]
                    if name not in derived:
                        problems.append(f"{what} reads the {m['type']} metric {name}: vLLM does not export it (and "
                                        "the metrics API can only serve it through a rule), and no rendered "
                                        "prometheus-adapter rule derives it")  # fmt: skip
        if o["kind"] == "ScaledObject":
            queries += [(what, t["metadata"]["query"]) for t in o["spec"]["triggers"] if t["type"] == "prometheus"]
    queries += [("canary analysis", q) for q in await analysis_queries(rendered)]
    for what, q in queries:
        for name in promql_names(q):
            if name not in exported and name not in ENVOY_SERIES and name not in derived:
                problems.append(f"{what} queries {name}, which neither vLLM {sorted(exported)[:0] or ''}"
                                f"nor Envoy exports, nor a rendered rule derives")  # fmt: skip
            if name in ENVOY_SERIES and not _envoy_scraped(rendered):
                problems.append(f"{what} queries {name}, but nothing scrapes the routers' Envoy statistics")
    return sorted(set(problems))


def _envoy_scraped(rendered: Rendered) -> bool:
    result = scraped(rendered)
    return all(not result[o["metadata"]["name"]] for o in _routers(rendered))


def _routers(rendered: Rendered) -> list[dict[str, Any]]:
    return [o for o in rendered.objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-router")]


# ---- the tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scrape", ["annotations", "podmonitor"])
async def test_every_route_reaches_a_listening_vllm_and_every_queried_metric_exists(
    tmp_path: Path, scrape: str
) -> None:
    problems: list[str] = []
    checked = 0
    for rendered in renders(tmp_path, {"scrape": scrape}):
        problems += [f"{rendered.stack}: {p}" for p in route_problems(rendered)]
        for deployment, issues in scraped(rendered).items():
            problems += [f"{rendered.stack}: {deployment}: {p}" for p in issues]
        problems += [f"{rendered.stack}: {p}" for p in await metric_problems(rendered)]
        checked += len(rendered.endpoints)
    assert checked == 6  # prod-gpu 4, staging-gpu 1, the quickstart's 1
    assert not problems, "\n".join(problems)


async def test_keda_queries_name_series_vllm_exports(tmp_path: Path) -> None:
    problems = []
    for rendered in renders(tmp_path, {"autoscaler": "keda"}):
        assert any(o["kind"] == "ScaledObject" for o in rendered.objects)
        problems += await metric_problems(rendered)
    assert not problems, "\n".join(problems)


def test_the_model_catches_what_would_not_arrive(tmp_path: Path) -> None:
    """The checks are not vacuous: each way of breaking a route is reported, with the step that fails."""
    rendered = next(renders(tmp_path))
    assert not route_problems(rendered)
    svc = next(o for o in rendered.objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None")
    dep = next(
        o for o in rendered.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == svc["metadata"]["name"]
    )
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    # vLLM started on another port than the router dials
    port_at = args.index("--port") + 1
    args[port_at] = "8001"
    assert any("no container of" in p and "listens on port 8000" in p for p in route_problems(rendered))
    args[port_at] = "8000"
    # a selector that matches no pod
    svc["spec"]["selector"] = {**svc["spec"]["selector"], "modelplane.dev/revision": "rnope"}
    assert any("matches no pod" in p for p in route_problems(rendered))
    # with a cluster IP, the dialled port must be one of the Service's ports, mapped to a named container port
    svc["spec"] = {"selector": dep["spec"]["selector"]["matchLabels"], "ports": [{"port": 80, "targetPort": "web"}]}
    assert any("has no port 8000" in p for p in route_problems(rendered))
    svc["spec"]["ports"] = [{"port": 8000, "targetPort": "web"}]
    assert any("targets port name 'web'" in p for p in route_problems(rendered))
    svc["spec"]["ports"] = [{"port": 8000, "targetPort": "http"}]
    assert not route_problems(rendered)
