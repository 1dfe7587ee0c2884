"""Compiled graphs cached by the fingerprint of their whole input.

A hit skips parsing, validation, reference resolution, checks and
fingerprinting. The file is one JSON line (nodes, edges, order, warnings, where
each node's document ends) followed by the node documents' JSON back to back
(``indexed_file``),
written as the loader serialized them; each is parsed only when a later stage
reads it (a plan looks closely at a few hundred of 10,000
nodes), which is what makes a warm ``plan --base`` cheap.
"""

from __future__ import annotations

from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from modelplane.compiler.compiled import Compiled
from modelplane.compiler.graph.fingerprint import Fingerprint
from modelplane.compiler.graph.lineage import Edge, LineageGraph
from modelplane.compiler.incremental import indexed_file
from modelplane.compiler.incremental.spec_cache import code_fingerprint
from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.compiler.timings import timed
from modelplane.errors import Diagnostic
from modelplane.specs.base import NodeId, kind_key

if TYPE_CHECKING:
    from modelplane.compiler.source.scan import Scan

FORMAT = 5  # 2: node documents are normalized; 3: their JSON follows the payload line, not inside it;
# 4: own hashes are of the serializer's bytes (fingerprint.serialized); 5: warnings are Diagnostic.to_json()
KEEP = 6

_SOURCE, _TARGET, _KIND, _PATH = (itemgetter(i) for i in range(4))
"""An ``Edge``'s fields by position (it is a NamedTuple)."""


def _path(root: Path, fingerprint: str, checked: bool = True) -> Path:
    suffix = "" if checked else ".unchecked"
    return root / ".modelplane" / "cache" / f"graph-{fingerprint}{suffix}.json"


@timed("cache write")
def save(root: Path, compiled: Compiled, checked: bool = True) -> None:
    """Store a compiled graph; ``checked`` says whether the graph rules ran on it."""
    graph = compiled.graph
    ids = list(graph.nodes)
    index = dict(zip(ids, range(len(ids)), strict=True))
    at = index.__getitem__
    fps = compiled.fingerprints
    edges = graph.edges
    payload = {
        "format": FORMAT,
        "modelplane": code_fingerprint(),
        "fingerprint": graph.specs.fingerprint,
        "nodes": [[n.kind, n.name, node.kind, node.file, node.index, *fps[n]] for n, node in graph.nodes.items()],
        # each edge as a tuple (orjson writes it as an array) made by mapping over the fields in C: a listcomp
        # building a list per edge was a third of writing a 10,000-node graph (~17,000 edges)
        "edges": list(
            zip(
                map(at, map(_SOURCE, edges)),
                map(at, map(_TARGET, edges)),
                map(_KIND, edges),
                map(_PATH, edges),
                strict=True,
            )
        ),
        "order": list(map(at, graph.topo_order())),
        "warnings": [d.to_json() for d in compiled.warnings],
    }
    blobs = [node.json for node in graph.nodes.values()]
    payload["data_ends"] = list(accumulate(map(len, blobs)))
    path = _path(root, graph.specs.fingerprint, checked)
    indexed_file.write(path, payload, blobs)
    try:
        old = sorted(path.parent.glob("graph-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass  # read-only checkout: no warm runs, nothing else changes


@timed("cache read")
def load(root: Path, scan: Scan, need_checked: bool = True) -> Compiled | None:
    """The cached graph for this input; an unchecked one only when ``need_checked`` is false."""
    payload = None
    for checked in (True, False) if not need_checked else (True,):
        try:
            payload, buf, start = indexed_file.read(_path(root, scan.fingerprint, checked))
            break
        except (OSError, ValueError):  # missing, or not this format (JSONDecodeError is a ValueError)
            continue
    if payload is None or not isinstance(payload, dict):
        return None
    if (
        payload.get("format") != FORMAT
        or payload.get("fingerprint") != scan.fingerprint
        or payload.get("modelplane") != code_fingerprint()
        or not indexed_file.ends_at_file_end(buf, start, (payload.get("data_ends") or [0])[-1])
    ):
        return None
    ids: list[NodeId] = []
    nodes: dict[NodeId, SpecNode] = {}
    fps: dict[NodeId, Fingerprint] = {}
    at = start
    for (kind, name, kind_name, file, idx, fs, fm, ff), end in zip(payload["nodes"], payload["data_ends"], strict=True):
        nid = tuple.__new__(NodeId, (kind_key(kind), name))  # in C, its kind one shared string
        ids.append(nid)
        nodes[nid] = SpecNode(nid, kind_name, file, idx, buf[at : start + end], own=(fs, fm))
        at = start + end
        fps[nid] = Fingerprint(fs, fm, ff)
    specs = SpecSet(
        scan.root, scan.project, scan.environment, nodes, files=dict(scan.hashes), fingerprint=scan.fingerprint
    )
    if not isinstance(scan.source, _file_source_type()):
        source = scan.source
        specs.source_loader = lambda f: source.read(f).decode("utf-8", errors="replace")
    edges = [Edge(ids[a], ids[b], kind, tuple(p)) for a, b, kind, p in payload["edges"]]
    graph = LineageGraph.indexed(specs, edges, order=[ids[i] for i in payload["order"]])
    return Compiled(graph, fps, [Diagnostic.from_json(d) for d in payload["warnings"]], [])


def _file_source_type() -> type:
    from modelplane.compiler.source.files import FileSource

    return FileSource
