"""GPU shape of an endpoint's replica, checked at validate.

- **node fit** (error): a replica is one pod, and a pod runs on one node, so ``resources.gpus_per_replica``
  must not exceed ``gpus_per_node`` of the stack's pool for the endpoint's accelerator; otherwise the render
  asks for a pod no node can schedule (it stays Pending forever).
- **parallelism** (``tensor x pipeline x data``, the GPUs vLLM uses): fewer GPUs than that is an error (vLLM
  fails at start); more leaves GPUs allocated and idle, a warning naming how many.
"""

from __future__ import annotations

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.report.words import plural
from modelplane.errors import Diagnostic
from modelplane.specs.base import NodeId
from modelplane.specs.providers import registry as providers

GPUS = ("spec", "resources", "gpus_per_replica")


def _diag(graph: LineageGraph, node: NodeId, code: str, message: str, hint: str, severity: str = "error") -> Diagnostic:
    loc, snippet, width = graph.specs.locate(graph.nodes[node], GPUS)
    return Diagnostic(code, message, loc, hint, snippet, width, severity=severity)


def check_gpu_shape(graph: LineageGraph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for ep in graph.iter_kind("Endpoint"):
        gpus = int(ep.spec_field("resources", "gpus_per_replica"))
        accelerator = ep.spec_field("resources", "accelerator")
        tp, pp, dp = (
            int(ep.spec_field("engine", "args", k))
            for k in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size")
        )
        used = tp * pp * dp
        shape = f"tensor_parallel_size {tp} x pipeline_parallel_size {pp} x data_parallel_size {dp} = {used}"
        if used > gpus:
            out.append(_diag(graph, ep.id, "gpu-shape",
                             f"endpoint/{ep.name}: vLLM needs {shape} GPUs per replica, but gpus_per_replica is {gpus}",
                             f"set gpus_per_replica: {used}, or lower the parallel sizes to fit {plural(gpus, 'GPU')}"))  # fmt: skip
        elif used < gpus:
            idle = gpus - used
            out.append(_diag(graph, ep.id, "gpu-idle",
                             f"endpoint/{ep.name}: {idle} of the {gpus} GPUs per replica would sit idle: vLLM uses "
                             f"{shape}",
                             f"set gpus_per_replica: {used}, or raise tensor_parallel_size (or data_parallel_size) "
                             f"so the product is {gpus}", severity="warning"))  # fmt: skip
        stack = graph.nodes.get(NodeId("stack", ep.spec_field("stack")))
        if stack is None or providers.is_local(str(stack.spec.get("provider"))):
            continue
        pool = next((p for p in stack.spec.get("gpu_pools", []) if p["accelerator"] == accelerator), None)
        if pool is not None and gpus > int(pool["gpus_per_node"]):
            out.append(_diag(graph, ep.id, "gpu-node-fit",
                             f"endpoint/{ep.name}: gpus_per_replica {gpus} does not fit a node of pool "
                             f"{pool['name']} on stack/{stack.name} ({pool['gpus_per_node']} x {pool['accelerator']} "
                             "per node): a replica is one pod on one node, so it would never be scheduled",
                             f"use gpus_per_replica <= {pool['gpus_per_node']} (with tensor_parallel_size to match), "
                             "or a pool of larger nodes"))  # fmt: skip
    return out
