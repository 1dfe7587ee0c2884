"""What the explorer shows, as plain data: built here once so the browser only looks things up.

Two documents: ``graph`` (every node's short record, the edges as index triples, the overview's
layout, the impact overlay) is what the first paint needs; ``details`` (each node's normalized spec,
columns with their column-level lineage, history) loads after it. Nodes are referred to by their index
in ``graph["nodes"]`` (ids sorted, as the compiler keeps them), so 30,000 edges cost a few hundred KB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.docs_site.layout import layered
from modelplane.specs.base import KIND_ORDER, NodeId
from modelplane.specs.kinds import registry

FORMAT_VERSION = 1


@dataclass
class Overlay:
    """The impact overlay: what changed and what it affects (from ``--base`` or ``--plan``)."""

    against: str
    """What the change is measured against, in words (``git origin/main``, ``plan 3f9a...``)."""
    changed: dict[str, str] = field(default_factory=dict)
    """Changed node id -> its change (create, update, replace, delete)."""
    impact: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    """Affected node id -> (category, reason chain)."""


@dataclass
class Applied:
    """What the state store says of the nodes: applied, changed since, or work left pending."""

    serial: int
    applied: set[str]
    modified: set[str]
    pending: set[str]


def _tiers(graph: LineageGraph, index: dict[NodeId, int]) -> list[int | None]:
    """The most critical service tier each node feeds (a service's own tier for a service)."""
    tiers: list[int | None] = [None] * len(index)
    for nid in reversed(graph.topo_order()):
        node = graph.nodes[nid]
        tier = registry.get(node.kind).tier
        best = node.spec.get(tier) if tier is not None else None
        for e in graph.out_edges(nid):
            t = tiers[index[e.target]]
            if t is not None and (best is None or t < best):
                best = t
        tiers[index[nid]] = best
    return tiers


def _state(nid: str, applied: Applied | None) -> str:
    if applied is None:
        return "no state"
    if nid in applied.pending:
        return "pending"
    if nid not in applied.applied:
        return "not applied"
    return "changed since apply" if nid in applied.modified else "applied"


def build(
    graph: LineageGraph,
    lines: dict[NodeId, int],
    *,
    project: str,
    environment: str,
    overlay: Overlay | None = None,
    applied: Applied | None = None,
    modified: dict[str, tuple[str, list[str]]] | None = None,
    histories: dict[str, list[dict[str, Any]]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(graph document, details document) of the site. ``lines``: each node's line in its file;
    ``modified``: each changed node's (change, changed field paths), what ``state:`` selects in the search
    box (None: nothing to compare with)."""
    ids = list(graph.nodes)
    index = {nid: i for i, nid in enumerate(ids)}
    edge_kinds: list[str] = []
    kind_no: dict[str, int] = {}
    edges: list[int] = []
    parents: list[list[int]] = [[] for _ in ids]
    for e in graph.edges:
        k = kind_no.get(e.kind)
        if k is None:
            k = kind_no[e.kind] = len(edge_kinds)
            edge_kinds.append(e.kind)
        s, t = index[e.source], index[e.target]
        edges += (s, t, k)
        parents[t].append(s)
    order = [index[n] for n in graph.topo_order()]
    pos = layered(order, parents)
    tiers = _tiers(graph, index)
    nodes = []
    details: dict[str, Any] = {}
    for i, nid in enumerate(ids):
        node = graph.nodes[nid]
        meta = node.data["metadata"]
        sid = str(nid)
        spec = node.spec
        columns = _columns(node.kind, spec)
        record: dict[str, Any] = {
            "id": sid,
            "kind": nid.kind,
            "name": nid.name,
            "owner": meta["owner"],
            "labels": meta["labels"],
            "file": node.file,
            "line": lines.get(nid, 1),
            "description": meta.get("description", ""),
            "columns": [c["name"] for c in columns],
            "tier": tiers[i],
            "state": _state(sid, applied),
            "x": round(pos[i][0], 2),
            "y": round(pos[i][1], 2),
        }
        if overlay is not None:
            if sid in overlay.changed:
                record["changed"] = overlay.changed[sid]
            hit = overlay.impact.get(sid)
            if hit is not None:
                record["impact"], record["reasons"] = hit
            elif sid in overlay.changed:
                record["impact"] = "changed"
        nodes.append(record)
        details[sid] = {
            "spec": spec,
            "columns": columns,
            "reads": _reads(node.kind, spec),
            "history": (histories or {}).get(sid, []),
        }
    _read_by(details)
    doc = {
        "format": "modelplane-docs",
        "version": FORMAT_VERSION,
        "project": project,
        "environment": environment,
        "nodes": nodes,
        "kinds": [k.lower() for k in KIND_ORDER],
        "edge_kinds": edge_kinds,
        "edges": edges,
        "overlay": None if overlay is None else {"against": overlay.against, "changed": len(overlay.changed)},
        "state": None if applied is None else {"serial": applied.serial},
        "modified": None if modified is None else {k: [c, f] for k, (c, f) in sorted(modified.items())},
    }
    return doc, details


def _columns(kind: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    cols = registry.get(kind).columns_of(spec)  # where its kind keeps columns (specs/kinds/)
    if cols is None:
        return []
    return [{"name": c["name"], "type": c["type"], "description": c.get("description", "")} for c in cols]


def _reads(kind: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Column-level lineage written on the reader: which columns of which dataset a feature reads."""
    if kind != "Feature":
        return []
    return [{"node": f"dataset/{inp['dataset']}", "columns": list(inp["columns"])} for inp in spec["inputs"]]


def _read_by(details: dict[str, Any]) -> None:
    """The same lineage seen from the dataset: each column's readers (``read_by``: column -> node ids)."""
    for sid, info in details.items():
        for read in info["reads"]:
            target = details.get(read["node"])
            if target is None:
                continue
            by = target.setdefault("read_by", {})
            for col in read["columns"]:
                by.setdefault(col, []).append(sid)
