"""The lineage graph as text, mermaid, Graphviz dot or JSON."""

from __future__ import annotations

from typing import Any

from modelplane.compiler.graph.lineage import LineageGraph, node_json
from modelplane.specs.base import NodeId
from modelplane.specs.kinds import registry


def _mid(nid: NodeId) -> str:
    return f"{nid.kind}_{nid.name}".replace("-", "_")


def mermaid(graph: LineageGraph, nodes: set[NodeId] | None = None, classes: dict[NodeId, str] | None = None) -> str:
    keep = set(graph.nodes) if nodes is None else nodes
    lines = ["graph LR"]
    for nid in sorted(keep):
        lines.append(f'  {_mid(nid)}["{nid.kind}/{nid.name}"]')
    for e in graph.subgraph_edges(keep):
        lines.append(f"  {_mid(e.source)} -->|{e.kind}| {_mid(e.target)}")
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
        lines.append(f'  "{e.source}" -> "{e.target}" [label="{e.kind}"];')
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
    out = [f"{len(keep)} nodes, {len(edges)} edges"]
    order = {k.lower(): i for i, k in enumerate(registry.names())}
    for nid in sorted(keep, key=lambda n: (order[n.kind], n.name)):
        node = graph.nodes[nid]
        out.append(f"{nid}  ({node.owner})")
        for e in graph.out_edges(nid):
            if e.target in keep:
                out.append(f"  └─ {e.kind} → {e.target}")
    return "\n".join(out) + "\n"
