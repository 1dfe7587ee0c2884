"""Check stage: rules about the graph as a whole, each reported at the spec that breaks it.

- cycles (with the path),
- column lineage: a feature reads columns its dataset has,
- GPU fit: a model's weights at its dtype fit the endpoint's GPUs,
- capacity: endpoints' max replicas fit their stack's GPU pools, and declared
  traffic fits max replicas at the measured per-replica capacity.
"""

from __future__ import annotations

import math

from modelplane.compiler.engine_check import check_engine
from modelplane.compiler.errors import Diagnostic
from modelplane.compiler.graph import CycleError, LineageGraph, declared_by
from modelplane.compiler.timings import timed
from modelplane.specs.accelerators import ACCELERATORS, WEIGHT_SHARE
from modelplane.specs.base import NodeId
from modelplane.specs.models import weight_gib


@timed("checks")
def check(graph: LineageGraph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    out.extend(_cycles(graph))
    out.extend(_column_lineage(graph))
    out.extend(_gpu_fit(graph))
    out.extend(_capacity(graph))
    out.extend(check_engine(graph))
    return out


def _diag(
    graph: LineageGraph,
    node: NodeId,
    path: tuple[str | int, ...],
    code: str,
    message: str,
    hint: str | None,
    severity: str = "error",
) -> Diagnostic:
    loc, snippet, width = graph.specs.locate(graph.nodes[node], path)
    return Diagnostic(code, message, loc, hint, snippet, width, severity=severity)


def _cycles(graph: LineageGraph) -> list[Diagnostic]:
    try:
        graph.topo_order()
    except CycleError as exc:
        return [cycle_diagnostic(graph, exc.path)]
    return []


def cycle_diagnostic(graph: LineageGraph, path: list[NodeId]) -> Diagnostic:
    """The cycle ``path`` (closed: [a, b, ..., a]), located at the reference that closes it."""
    edge = next(e for e in graph.out_edges(path[0]) if e.target == path[1])
    chain = " -> ".join(str(p) for p in path)
    return _diag(
        graph,
        declared_by(edge) if edge.path else edge.target,
        edge.path,
        "cycle",
        f"lineage cycle: {chain}",
        "data must flow one way; remove one of these references",
    )


def _column_lineage(graph: LineageGraph) -> list[Diagnostic]:
    out = []
    for node in graph.iter_kind("Feature"):
        for i, inp in enumerate(node.spec["inputs"]):
            ds = graph.nodes.get(NodeId("dataset", inp["dataset"]))
            if ds is None:
                continue
            have = [c["name"] for c in ds.spec["schema"]["columns"]]
            for j, col in enumerate(inp["columns"]):
                if col not in have:
                    from modelplane.compiler.errors import did_you_mean

                    hint = did_you_mean(col, have) or f"dataset/{ds.name} has: {', '.join(have)}"
                    d = _diag(
                        graph,
                        node.id,
                        ("spec", "inputs", i, "columns", j),
                        "unknown-column",
                        f"feature/{node.name} reads column `{col}`, which dataset/{ds.name} does not have",
                        hint,
                    )
                    ds_loc, _, _ = graph.specs.locate(ds, ("spec", "schema", "columns"))
                    out.append(
                        Diagnostic(
                            d.code,
                            d.message,
                            d.location,
                            d.hint,
                            d.snippet,
                            d.width,
                            related=((f"dataset/{ds.name} columns", ds_loc),),
                        )
                    )
    return out


def _gpu_fit(graph: LineageGraph) -> list[Diagnostic]:
    out = []
    for ep in graph.iter_kind("Endpoint"):
        res = ep.spec["resources"]
        acc = ACCELERATORS.get(res["accelerator"])
        if acc is None:
            from modelplane.compiler.errors import did_you_mean

            out.append(
                _diag(
                    graph,
                    ep.id,
                    ("spec", "resources", "accelerator"),
                    "unknown-accelerator",
                    f"unknown accelerator `{res['accelerator']}`",
                    did_you_mean(res["accelerator"], ACCELERATORS, "known accelerators", shown=None),
                )
            )
            continue
        model = graph.nodes.get(NodeId("model", ep.spec["model"]))
        if model is None:
            continue
        dtype = model.spec["dtype"]
        quant = ep.spec["engine"]["args"]["quantization"]
        weights = weight_gib(model.spec["parameters_b"], "fp8" if quant == "fp8" else dtype)
        gpus = res["gpus_per_replica"]
        budget = acc.memory_gib * gpus * WEIGHT_SHARE
        if weights > budget:
            need = math.ceil(weights / (acc.memory_gib * WEIGHT_SHARE))
            out.append(
                _diag(
                    graph,
                    ep.id,
                    ("spec", "resources", "gpus_per_replica"),
                    "gpu-fit",
                    f"model/{model.name} needs {weights:.0f} GiB for its weights ({dtype}), but {gpus} x {acc.name} "
                    f"give {budget:.0f} GiB usable",
                    f"use gpus_per_replica: {need} with tensor_parallel_size: {need}, a larger accelerator, "
                    "or quantization",
                )
            )
    return out


def _capacity(graph: LineageGraph) -> list[Diagnostic]:
    out = []
    demand: dict[tuple[NodeId, str], list[tuple[NodeId, int]]] = {}
    for ep in graph.iter_kind("Endpoint"):
        spec = ep.spec
        gpus = spec["resources"]["gpus_per_replica"] * spec["autoscaling"]["max_replicas"]
        demand.setdefault((NodeId("stack", spec["stack"]), spec["resources"]["accelerator"]), []).append((ep.id, gpus))
        per_replica = spec["capacity"]["target_qps_per_replica"]
        if per_replica:
            need = math.ceil(spec["traffic"]["qps"] / per_replica)
            if need > spec["autoscaling"]["max_replicas"]:
                out.append(
                    _diag(
                        graph,
                        ep.id,
                        ("spec", "autoscaling", "max_replicas"),
                        "insufficient-replicas",
                        f"endpoint/{ep.name} declares {spec['traffic']['qps']:g} QPS at {per_replica:g} QPS per "
                        f"replica: {need} replicas needed, max_replicas is {spec['autoscaling']['max_replicas']}",
                        f"raise max_replicas to at least {need}, or re-measure capacity.target_qps_per_replica",
                        severity="warning",
                    )
                )
    for (stack_id, accel), users in sorted(demand.items()):
        stack = graph.nodes.get(stack_id)
        if stack is None or not stack.spec["gpu_pools"]:
            continue  # the local stack (or a stack without declared pools) has no GPU budget to check
        pools = [p for p in stack.spec["gpu_pools"] if p["accelerator"] == accel]
        have = sum(p["gpus_per_node"] * p["max_nodes"] for p in pools)
        need = sum(g for _, g in users)
        if need > have:
            names = ", ".join(f"{u} ({g})" for u, g in users)
            first = users[0][0]
            out.append(
                _diag(
                    graph,
                    first,
                    ("spec", "autoscaling", "max_replicas"),
                    "gpu-capacity",
                    f"stack/{stack.name} has {have} {accel} GPUs at most, but its endpoints may need {need}: {names}",
                    f"add or grow a {accel} pool in stack/{stack.name} (max_nodes), or lower max_replicas",
                )
            )
    return out
