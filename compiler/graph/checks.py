"""Check stage: rules about the graph as a whole, each reported at the spec that breaks it.

- cycles (with the path),
- column lineage: a feature reads columns its dataset has,
- GPU fit: a model's weights at its dtype fit the endpoint's GPUs,
- GPU shape (``gpu_shape``): a replica's GPUs fit one node of its pool and equal tp x pp x dp,
- capacity (compiler/capacity): each endpoint bound to its measured profile (or a
  warning), max replicas hold the declared peak within the SLO with a zone lost,
  the autoscaler follows the ramp, and the stack's GPU pools hold it all,
- canary feasibility: every analysed rollout step can reach its sample size
  (declared QPS x weight x window, or synthetic traffic where allowed), or
  the plan says which step cannot decide and the smallest fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

from modelplane.compiler.graph.engine_check import check_engine
from modelplane.compiler.graph.gpu_shape import check_gpu_shape
from modelplane.compiler.graph.lineage import CycleError, LineageGraph, declared_by
from modelplane.compiler.load.specset import SpecNode
from modelplane.compiler.timings import timed
from modelplane.errors import Diagnostic
from modelplane.specs.accelerators import ACCELERATORS, WEIGHT_SHARE
from modelplane.specs.base import NodeId
from modelplane.specs.common import canonical_duration, duration_seconds
from modelplane.specs.kinds import registry
from modelplane.specs.models import weight_gib
from modelplane.specs.providers import registry as providers
from modelplane.specs.sample_size import window_requests
from modelplane.specs.serving import idle_policy

SYNTHETIC_FILL = 0.85 / 2.2
"""The share of ``max_qps x window`` the synthesizer gives the canary when nothing else comes (runtime.local.synthetic
fills canary and stable each to 1.1 x need by 85% of the window)."""


@timed("checks")
def check(graph: LineageGraph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    out.extend(_cycles(graph))
    out.extend(_column_lineage(graph))
    out.extend(_gpu_fit(graph))
    out.extend(check_gpu_shape(graph))
    out.extend(_capacity(graph))
    out.extend(canary_feasibility(graph))
    out.extend(check_engine(graph))
    out.extend(credentials_in_specs(graph))
    return out


def credentials_in_specs(graph: LineageGraph) -> list[Diagnostic]:
    """A literal that looks like a credential in a field where one turns up: a warning at the field, the
    value masked (never printed), with the fix: a ``${secret.NAME}`` reference."""
    from modelplane.compiler.load.secrets import credentials, mask_line

    out = []
    for kind in (e.name for e in registry.entries() if e.secrets):
        if _all_plain_text_without_credentials(graph, kind):
            continue
        places = tuple(p.path for p in registry.get(kind).secrets)
        for node in graph.iter_kind(kind):
            if _all_empty(node, places):
                continue  # nothing written where a credential could be (an endpoint's `extra_args`, mostly)
            found_here = list(credentials(kind, _credential_fields(node)))
            for found in found_here:
                loc, snippet, width = graph.specs.locate(node, found.path)
                field = ".".join(str(p) for p in found.path)
                masked = mask_line(snippet, found.literal)
                for other in found_here:  # a line may hold more than one: none is shown
                    masked = (
                        masked
                        if masked is None or other.literal not in masked
                        else masked.replace(other.literal, "****")
                    )
                out.append(
                    Diagnostic(
                        "credential-in-spec",
                        f"{node.id}: `{field}` holds what looks like {found.what} (not shown); specs are "
                        "committed, and plans, state and logs would keep it",
                        loc,
                        "move it out of the spec: write `${secret.NAME}` here and set NAME where apply "
                        "runs (MODELPLANE_SECRET_NAME, or `secrets:` in modelplane.yaml)",
                        masked,
                        min(width, 4) if masked is not None else 1,
                        severity="warning",
                    )
                )
    return out


def _all_plain_text_without_credentials(graph: LineageGraph, kind: str) -> bool:
    """Whether every node of ``kind`` has its one secret field as plain text, or a command's arguments none of
    which is a flag (a flag names the value after it), holding no credential shape: one search over them all
    instead of a scan per node (~15 ms of a cold 10,000-node plan)."""
    from modelplane.compiler.load.secrets import none_look_like_credentials

    field = _text_field(kind)  # the registry's now (a kind may be registered after import)
    if field is None:
        return False
    texts = []
    for node in graph.iter_kind(kind):
        value = node.spec_field(field)
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list | tuple) and all(isinstance(a, str) and not a.startswith("-") for a in value):
            texts.extend(value)
        elif value is not None:
            return False
    return none_look_like_credentials(texts)


def _all_empty(node: SpecNode, places: tuple[tuple[str, ...], ...]) -> bool:
    """Whether each of these secret fields of a node is empty or unset (no text, no entries): no credential there."""
    try:
        return not any(node.spec_field(*path) for path in places)
    except (AttributeError, KeyError, TypeError):  # an alias, or a field inside an unset block: look closely
        return False


def _text_field(kind: str) -> str | None:
    """The one secret field of a kind when it is plain text (or a list of it) at the top of ``spec``."""
    places = registry.get(kind).secrets
    if len(places) == 1 and places[0].shape in ("value", "command") and len(places[0].path) == 1:
        return places[0].path[0]
    return None


def _credential_fields(node: SpecNode) -> Mapping[str, Any]:
    """What ``credentials`` reads of a node's spec: its kind's secret fields, from the typed model where this process
    built it (the same values the normalized document holds, without decoding the document: of a cold 10,000-node
    plan's documents, ~2,700 were decoded for this rule alone, then every endpoint). A field whose value the model
    holds otherwise than the document would (a block, a tuple), or whose name is not its key, is read from the
    document."""
    places = registry.get(node.kind).secrets
    if not node.has_model or _nested(tuple(p.path for p in places)):
        return node.spec
    fields: dict[str, Any] = {}
    for place in places:
        try:
            value = node.spec_field(*place.path)
        except AttributeError:  # a name that is an alias: the field's name differs
            return node.spec
        if not isinstance(value, str | dict | list | None):
            return node.spec
        at = fields
        for key in place.path[:-1]:
            at = at.setdefault(key, {})
        at[place.path[-1]] = value
    return fields


@cache
def _nested(paths: tuple[tuple[str, ...], ...]) -> bool:
    """Whether one of a kind's secret fields lies inside another's value (none does today): a mapping made of their
    values would then nest one in the other's, so the fields are read from the document instead."""
    return any(a != b and b[: len(a)] == a for a in paths for b in paths)


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


def _feature_inputs(node: SpecNode) -> list[tuple[str, list[str]]]:
    """(dataset, columns read) per input of a feature, from its typed model where this process built it (no
    document decoded: this rule alone decoded ~3,300 of a cold 10,000-node plan's documents), else its document."""
    if node.has_model:
        return [(i.dataset, i.columns) for i in node.model.spec.inputs]  # type: ignore[union-attr]
    return [(i["dataset"], i["columns"]) for i in node.spec["inputs"]]


def _dataset_columns(node: SpecNode) -> list[str]:
    if node.has_model:
        return [c.name for c in node.model.spec.schema_.columns]  # type: ignore[union-attr]
    return [c["name"] for c in node.spec["schema"]["columns"]]


def _column_lineage(graph: LineageGraph) -> list[Diagnostic]:
    out = []
    columns: dict[NodeId, list[str]] = {}
    for node in graph.iter_kind("Feature"):
        for i, (dataset, reads) in enumerate(_feature_inputs(node)):
            ds = graph.nodes.get(NodeId("dataset", dataset))
            if ds is None:
                continue
            have = columns.get(ds.id)
            if have is None:
                have = columns[ds.id] = _dataset_columns(ds)
            for j, col in enumerate(reads):
                if col not in have:
                    from modelplane.errors import did_you_mean

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
        accelerator = ep.spec_field("resources", "accelerator")
        acc = ACCELERATORS.get(accelerator)
        if acc is None:
            from modelplane.errors import did_you_mean

            out.append(
                _diag(
                    graph,
                    ep.id,
                    ("spec", "resources", "accelerator"),
                    "unknown-accelerator",
                    f"unknown accelerator `{accelerator}`",
                    did_you_mean(accelerator, ACCELERATORS, "known accelerators", shown=None),
                )
            )
            continue
        model = graph.nodes.get(NodeId("model", ep.spec_field("model")))
        if model is None:
            continue
        dtype, parameters_b = model.spec_field("dtype"), model.spec_field("parameters_b")
        quant = ep.spec_field("engine", "args", "quantization")
        weights = weight_gib(parameters_b, "fp8" if quant == "fp8" else dtype)
        gpus = ep.spec_field("resources", "gpus_per_replica")
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
    from modelplane.compiler.capacity.stage import diagnostics

    return diagnostics(graph)


def canary_feasibility(graph: LineageGraph) -> list[Diagnostic]:
    """Rollout steps whose analysis windows cannot reach their sample size, each with the smallest fix."""
    out = []
    for ep in graph.iter_kind("Endpoint"):
        qps = ep.spec_field("traffic", "qps")
        stack = graph.nodes.get(NodeId("stack", ep.spec_field("stack")))
        provider = stack.spec["provider"] if stack is not None else "local"
        idle = idle_policy(ep.spec_field("rollout", "analysis", "when_idle"), provider)
        window = duration_seconds(ep.spec_field("rollout", "analysis", "window"))
        need = window_requests(
            ep.spec_field("rollout", "analysis", "min_requests"), ep.spec_field("slo", "availability")
        )
        where = ("spec", "rollout", "analysis", "when_idle")
        if idle == "synthesize" and not providers.is_local(provider):
            out.append(
                _diag(
                    graph, ep.id, where, "synthetic-traffic-unsupported",
                    f"endpoint/{ep.name}: when_idle: synthesize needs a stack whose router this machine reaches "
                    f"(the local stack); stack/{ep.spec_field('stack')} is {provider}",
                    "use when_idle: hold (wait for `modelplane approve`), fail or pass, or send load yourself",
                )
            )  # fmt: skip
            continue
        synthetic = (
            ep.spec_field("rollout", "analysis", "synthetic", "max_qps") * window * SYNTHETIC_FILL
            if idle == "synthesize"
            else 0.0
        )
        for i, (w, analysed) in enumerate(_steps(ep)):
            if not analysed or w == 0:
                continue
            real = qps * w / 100 * window
            if real >= need or synthetic >= need:
                continue
            out.append(_infeasible(graph, ep, i, w, need, real, window, idle, provider))
            break  # the first step that cannot decide says it; later steps have more weight
    return out


def _steps(ep: SpecNode) -> list[tuple[int, bool]]:
    """(weight, analysed) of each rollout step, from the typed model where this process built it (``spec_field``:
    with this and the other endpoint rules reading values so, a cold 10,000-node plan decodes no endpoint)."""
    if ep.has_model:
        return [(s.weight, s.analysis) for s in ep.model.spec.rollout.steps]  # type: ignore[union-attr]
    return [(s["weight"], s["analysis"]) for s in ep.spec["rollout"]["steps"]]


_NICE_S = (10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600)


def _round_up(seconds: float) -> str:
    """A duration a person would write, at least ``seconds`` (9m58s is 10m)."""
    nice = next((n for n in _NICE_S if n >= seconds), math.ceil(seconds / 3600) * 3600)
    return canonical_duration(nice * 1000)


def _infeasible(
    graph: LineageGraph, ep: Any, i: int, w: int, need: int, real: float, window: float, idle: str, provider: str
) -> Diagnostic:
    qps = ep.spec_field("traffic", "qps")
    fixes = [f"analysis.window: {_round_up(need / (qps * w / 100))} or longer"]
    weight = math.ceil(100 * need / (qps * window))
    if weight <= 100:
        fixes.append(f"a first analysed weight of {weight}% or more")
    if idle == "synthesize":
        fixes.insert(0, f"synthetic.max_qps: {math.ceil(need / (window * SYNTHETIC_FILL))} or more")
        then = "even with synthetic traffic (capped at synthetic.max_qps)"
    else:
        if providers.is_local(provider):
            fixes.append("when_idle: synthesize")
        then = {
            "hold": "so it will wait for `modelplane approve` (when_idle: hold)",
            "fail": "so it will roll back (when_idle: fail)",
            "pass": "so it will pass without evidence (when_idle: pass)",
        }[idle]
    return _diag(
        graph,
        ep.id,
        ("spec", "rollout", "steps", i, "weight"),
        "canary-cannot-decide",
        f"endpoint/{ep.name}: rollout step {i + 1} (weight {w}%) cannot decide on its declared traffic, {then}: "
        f"{qps:g} QPS x {w}% x {canonical_duration(int(window * 1000))} = {real:.0f} canary requests per window, "
        f"need {need}",
        "smallest fixes: " + "; ".join(f for f in fixes if f),
        severity="warning",
    )
