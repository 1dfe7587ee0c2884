"""The lineage graph as text, mermaid, Graphviz dot or JSON."""

from __future__ import annotations

from typing import Any

from modelplane.compiler.graph.lineage import Edge, LineageGraph, node_json
from modelplane.compiler.report.words import plural
from modelplane.specs.base import NodeId
from modelplane.specs.kinds import registry

FLOW_LABELS = {
    "derives": "feeds",
    "reads": "feeds",
    "input": "feeds",
    "output": "outputs",
    "produces": "produces",
    "trained_on": "trains",
    "evaluates": "is evaluated by",
    "evaluates_on": "is test data of",
    "gates": "gates",
    "serves": "is served by",
    "hosts": "hosts",
    "consumes": "is consumed by",
}
"""How an edge reads from its source to its target. Edges point the way data flows (a dataset to the model
trained on it), but most edge kinds are named from the referring spec's side (a model is ``trained_on`` a
dataset): shown as they are, "dataset/x trained_on model/y" reads backwards. The views print these; the
machine name stays the edge's ``kind`` (JSON)."""


def label(e: Edge) -> str:
    """The edge's label in data-flow direction: ``dataset/x --trains--> model/y``."""
    return FLOW_LABELS.get(e.kind, e.kind)


def _mid(nid: NodeId) -> str:
    return f"{nid.kind}_{nid.name}".replace("-", "_")


def mermaid(graph: LineageGraph, nodes: set[NodeId] | None = None, classes: dict[NodeId, str] | None = None) -> str:
    keep = set(graph.nodes) if nodes is None else nodes
    lines = ["graph LR"]
    for nid in sorted(keep):
        lines.append(f'  {_mid(nid)}["{nid.kind}/{nid.name}"]')
    for e in graph.subgraph_edges(keep):
        lines.append(f"  {_mid(e.source)} -->|{label(e)}| {_mid(e.target)}")
    if classes:
        lines += [
            "  classDef changed fill:#fff3cd,stroke:#b58900",
            "  classDef affected fill:#e7f1ff,stroke:#268bd2",
            "  classDef broken fill:#f8d7da,stroke:#dc322f",
        ]
        for cls in ("changed", "affected", "broken"):
            members = sorted(_mid(n) for n, c in classes.items() if c == cls)
            if members:
                lines.append(f"  class {','.join(members)} {cls}")
    return "\n".join(lines)


def dot(graph: LineageGraph, nodes: set[NodeId] | None = None) -> str:
    keep = set(graph.nodes) if nodes is None else nodes
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for nid in sorted(keep):
        lines.append(f'  "{nid}" [shape={registry.by_id_kind(nid.kind).graph.dot}];')
    for e in graph.subgraph_edges(keep):
        lines.append(f'  "{e.source}" -> "{e.target}" [label="{label(e)}"];')
    lines.append("}")
    return "\n".join(lines)


def to_json(graph: LineageGraph, nodes: set[NodeId] | None = None) -> dict[str, Any]:
    keep = set(graph.nodes) if nodes is None else nodes
    return {
        "nodes": [node_json(graph.nodes[n]) for n in sorted(keep)],
        "edges": [
            {"source": str(e.source), "target": str(e.target), "kind": e.kind} for e in graph.subgraph_edges(keep)
        ],
    }


def text(graph: LineageGraph, nodes: set[NodeId] | None = None) -> str:
    keep = set(graph.nodes) if nodes is None else nodes
    edges = graph.subgraph_edges(keep)
    out = [f"{plural(len(keep), 'node')}, {plural(len(edges), 'edge')}"]
    order = {k.lower(): i for i, k in enumerate(registry.names())}
    for nid in sorted(keep, key=lambda n: (order[n.kind], n.name)):
        node = graph.nodes[nid]
        out.append(f"{nid}  ({node.owner})")
        for e in graph.out_edges(nid):
            if e.target in keep:
                out.append(f"  └─ {label(e)} → {e.target}")
    return "\n".join(out) + "\n"
