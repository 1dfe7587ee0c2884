"""In-memory lineage graphs for unit tests of diff, impact and plan building: no files, no git, no scan.

Spec documents are written as Python dicts and go through what a compile does to a parsed YAML document:
the loader's validation (``SPEC_ADAPTER``, then ``serialized`` for the normalized JSON and own hashes, as
``compiler.load.loader`` does), reference resolution, the graph, its rules and its fingerprints. Each
document's source text is its JSON (which is YAML), so a diagnostic still locates. ``plan_between`` then
runs ``diff``, ``compute`` and ``build_plan`` exactly as ``compiler.compile.make_plan`` calls them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.compiler.change.diff import Diff, diff
from modelplane.compiler.change.impact import Impact, compute
from modelplane.compiler.change.state import AppliedNode, AppliedState
from modelplane.compiler.compiled import Compiled
from modelplane.compiler.graph.checks import check
from modelplane.compiler.graph.fingerprint import fingerprints, serialized
from modelplane.compiler.graph.lineage import LineageGraph, build
from modelplane.compiler.load.references import resolve
from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.compiler.plan.actions import build_plan
from modelplane.compiler.plan.model import BaseRef, Plan
from modelplane.errors import GraphError, SpecError
from modelplane.specs.base import API_VERSION, NodeId
from modelplane.specs.kinds import SPEC_ADAPTER
from modelplane.specs.project import Project

Doc = dict[str, Any]
FILE = "specs.yaml"
ROOT = Path("/nonexistent/in-memory")
"""Never read: the documents and their text come from Python (a capacity profile looked up there is absent)."""


def doc(kind: str, name: str, spec: dict[str, Any], *, owner: str = "team-x", **metadata: Any) -> Doc:
    """One spec document as a YAML file would hold it."""
    meta = {"name": name, "owner": owner, **metadata}
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def compiled(docs: Iterable[Doc], *, project: Project | None = None, allow: Collection[str] = ()) -> Compiled:
    """The checked, fingerprinted graph of ``docs``; ``SpecError``/``GraphError`` as a compile would raise.

    ``allow``: codes of graph-rule errors to keep in ``errors`` instead of raising (a plan explains an
    ``unknown-column`` that its own change breaks, as ``make_plan`` does).
    """
    written = list(docs)
    nodes: dict[NodeId, SpecNode] = {}
    for index, d in enumerate(written):
        model = SPEC_ADAPTER.validate_python(d)  # a ValidationError here is the test's typo, not a rule
        blob, own = serialized(model)
        nid = NodeId(model.kind.lower(), model.metadata.name)
        if nid in nodes:
            raise ValueError(f"{nid} is written twice")
        nodes[nid] = SpecNode(nid, model.kind, FILE, index, blob, model, blob, own)
    text = "\n---\n".join(json.dumps(d, indent=1) for d in written)
    specs = SpecSet(ROOT, project or Project(name="unit"), "dev", dict(sorted(nodes.items())))
    specs.source_loader = lambda _file: text
    links, problems = resolve(specs)
    if problems:
        raise SpecError(problems)
    specs.links = links
    graph = build(specs)
    found = check(graph)
    errors = [d for d in found if d.severity == "error"]
    if [d for d in errors if d.code not in allow]:
        raise GraphError(errors)
    return Compiled(graph, fingerprints(graph), [d for d in found if d.severity != "error"], errors)


def applied(graph: LineageGraph, serial: int = 1) -> AppliedState:
    """The state an apply of ``graph`` records: every document as applied (``compiler.change.state``)."""
    nodes = {str(n.id): AppliedNode(n.kind, n.file, n.index, n.data) for n in graph.nodes.values()}
    return AppliedState(serial, nodes)


@dataclass(frozen=True)
class Planned:
    diff: Diff
    impact: Impact
    plan: Plan


def plan_between(base: Compiled | LineageGraph, head: Compiled) -> Planned:
    """Diff, impact and plan of ``head`` against ``base`` (a compiled graph, or one read from a state)."""
    base_graph = base.graph if isinstance(base, Compiled) else base
    base_fp = base.fingerprints if isinstance(base, Compiled) else fingerprints(base)
    changes = diff(base_graph, head.graph, base_fp, head.fingerprints)
    impact = compute(head.graph, changes)
    plan = build_plan(
        project="unit",
        environment="dev",
        head=head.graph,
        base=base_graph,
        diff=changes,
        impact=impact,
        base_ref=BaseRef(kind="git", ref="base"),
        state_serial=0,
    )
    return Planned(changes, impact, plan)


def platform() -> dict[str, Doc]:
    """A small platform, fresh on every call (tests edit it): tickets data -> two features, a training workflow
    -> model/chat with a blocking and a non-blocking evaluation -> endpoint/chat on stack/local -> a tier-1
    service. Each stage has its own owner, so a notice names who must act."""

    def feature(name: str, reads: str, makes: str) -> Doc:
        inputs = [{"dataset": "tickets", "columns": [reads]}]
        columns = [{"name": makes, "type": "string"}]
        return doc(
            "Feature", name, {"inputs": inputs, "entity": "ticket_id", "columns": columns}, owner="team-features"
        )

    def evaluation(name: str, **spec: Any) -> Doc:
        metrics = [{"name": "exact_match", "min": 0.3}]
        spec = {"model": "chat", "dataset": "tickets", "metrics": metrics, "command": ["python3", "eval.py"], **spec}
        return doc("Evaluation", name, spec, owner="team-eval")

    columns = [{"name": c, "type": "string"} for c in ("ticket_id", "body", "reply", "country")]
    model = {"version": "1.0.0", "artifact": "hf://org/chat@v1", "parameters_b": 0.5}
    endpoint = {
        "model": "chat",
        "stack": "local",
        "resources": {"accelerator": "L4"},  # one GPU per replica, 1..4 replicas
        "traffic": {"qps": 10},
        "slo": {"p99_latency_ms": 1000, "availability": 0.999},
        "capacity": {"target_qps_per_replica": 10},
        "autoscaling": {"min_replicas": 1, "max_replicas": 4},
    }
    docs = [
        doc(
            "Dataset",
            "tickets",
            {"uri": "file://tickets.jsonl", "format": "jsonl", "schema": {"columns": columns}},
            owner="team-data",
        ),
        feature("ticket-lang", "body", "lang"),
        feature("ticket-geo", "country", "region"),
        doc(
            "Workflow",
            "train-chat",
            {"inputs": ["dataset/tickets"], "outputs": ["model/chat"], "command": ["python3", "train.py"]},
            owner="team-ml",
        ),
        doc(
            "Model",
            "chat",
            {**model, "trained_on": {"datasets": ["tickets"], "workflow": "train-chat"}},
            owner="team-ml",
        ),
        evaluation("chat-quality"),
        evaluation("chat-holdout", blocking=False),
        doc("Stack", "local", {"provider": "local"}, owner="team-platform"),
        doc("Endpoint", "chat", endpoint, owner="team-serving"),
        doc("Service", "support-bot", {"consumes": ["endpoint/chat"], "tier": 1}, owner="team-support"),
    ]
    return {f"{d['kind'].lower()}/{d['metadata']['name']}": d for d in docs}
