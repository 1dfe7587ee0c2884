"""A project kept compiled in memory and updated one document at a time: what the language server runs on.

Pure (no processes, no network): the editor hands in text; nothing here writes a file.

A cold start reads every file as ``load`` does (the validated-documents cache and the forked
parse included). After that, ``update(path, text)`` re-parses and validates that one file, swaps
its nodes in the name and reference indexes, and re-runs the graph rules on the affected region
only: the changed nodes, their children, the endpoints of a changed stack, and the parents of all
of those (each rule reads a node and its inputs). Diagnostics are kept per node and per file, so
one keystroke costs one file's parse plus a small subgraph's rules, never a project reload.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelplane.compiler.graph.lineage import Edge, LineageGraph, from_edges, gate_edges
from modelplane.compiler.load.loader import (
    FileResult,
    _load_file,
    _read_file,
    _registered_kinds,
    open_cache,
    paused_gc,
    read_documents,
)
from modelplane.compiler.load.references import _target, node_refs
from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.compiler.source.positions import SourceMap
from modelplane.compiler.source.scan import Scan, scan
from modelplane.errors import Collector, Diagnostic
from modelplane.specs.base import NodeId
from modelplane.specs.refs import FoundRef


@dataclass
class Ref:
    """One reference a node makes, resolved (``target``) or not (``problem``)."""

    node: NodeId
    found: FoundRef
    target: NodeId | None
    problem: Diagnostic | None = None


@dataclass
class FileState:
    path: str
    text: str
    nodes: list[SpecNode] = field(default_factory=list)
    """Every document that names a node, valid or not (an invalid one still answers references)."""
    load_problems: list[Diagnostic] = field(default_factory=list)
    source: SourceMap | None = None

    def source_map(self) -> SourceMap:
        if self.source is None:
            self.source = SourceMap(self.path, self.text)
        return self.source


class LiveProject:
    """One project in one environment, compiled and kept current as files change."""

    def __init__(self, root: Path, env: str | None = None, use_cache: bool = True) -> None:
        self.root = root
        self.scan: Scan = scan(root, env)
        self.project = self.scan.project
        self.environment = self.scan.environment
        self.files: dict[str, FileState] = {}
        self.by_id: dict[NodeId, list[SpecNode]] = {}
        self.refs: dict[NodeId, list[Ref]] = {}
        self.referrers: dict[str, set[NodeId]] = {}
        """name -> nodes with a reference written with that name (resolved or not)."""
        self.rule_diags: dict[NodeId, list[Diagnostic]] = {}
        self._invalid: set[int] = set()
        """``id()`` of nodes whose document failed validation (kept only to answer references)."""
        self._graph: LineageGraph | None = None
        # what the cold start builds lives as long as the server: frozen out of the collector's sight, so a
        # full collection during an edit does not rescan 10,000 nodes' objects (a second-long pause)
        with paused_gc():
            self._cold(use_cache)

    # -- building --------------------------------------------------------------------------------------------------

    def _cold(self, use_cache: bool) -> None:
        sc = self.scan
        problems = Collector()
        problems.extend(sc.problems)
        texts: dict[str, str] = {}
        partial: list[SpecNode] = []
        docs = read_documents(sc, list(sc.hashes), open_cache(sc, use_cache), problems, texts, partial, set())
        for path in sc.hashes:
            self.files[path] = FileState(path, texts.get(path) or "")
        for node in [*docs, *partial]:
            self.files[node.file].nodes.append(node)
        self._invalid.update(id(n) for n in partial if n._model is None)
        for d in problems.items:
            if d.location is not None and d.location.file in self.files:
                self.files[d.location.file].load_problems.append(d)
        for f in self.files.values():
            f.nodes.sort(key=lambda n: n.index)
            for node in f.nodes:
                self.by_id.setdefault(node.id, []).append(node)
        for f in self.files.values():
            for node in f.nodes:
                self._index_refs(node)
        self._graph = self._full_graph()
        self._run_rules(self._graph, set(self._graph.nodes))

    def text_of(self, path: str) -> str:
        f = self.files[path]
        if not f.text:  # a file the cache answered was not read: read it now, once
            f.text = self.scan.content(path).decode("utf-8", "replace")
            f.source = None
        return f.text

    def specset(self, nodes: Iterable[SpecNode] | None = None) -> SpecSet:
        chosen = self.valid_nodes() if nodes is None else {n.id: n for n in nodes}
        specs = SpecSet(self.root, self.project, self.environment, dict(sorted(chosen.items())))
        specs.source_loader = self.text_of
        # the source maps already built, of the files these nodes are in (a region's few, not all 5,000)
        for path in {n.file for n in specs.nodes.values()} if nodes is not None else self.files:
            f = self.files.get(path)
            if f is not None and f.source is not None:
                specs.source_maps[path] = f.source
        return specs

    def valid_nodes(self) -> dict[NodeId, SpecNode]:
        """One node per id with a validated model (the first defined, as the loader keeps)."""
        out = {}
        for nid, defs in self.by_id.items():
            valid = [n for n in defs if id(n) not in self._invalid]
            if valid:
                out[nid] = valid[0]
        return out

    def _names(self) -> dict[str, set[str]]:
        names: dict[str, set[str]] = {}
        for nid in self.by_id:
            names.setdefault(nid.kind, set()).add(nid.name)
        return names

    def _index_refs(self, node: SpecNode, names: dict[str, set[str]] | None = None) -> None:
        names = names if names is not None else self._names_cache()
        found_refs: list[Ref] = []
        try:
            refs = node_refs(node)
        except Exception:  # a document too broken to walk names nothing
            refs = []
        for found in refs:
            if "${" in found.value:
                continue
            target, problem = _target(found, self._near(found.value.rpartition("/")[2], names))
            diag = None
            if problem is not None:
                loc, snippet, width = self.locate(node, found.path)
                diag = Diagnostic(problem.code, problem.message, loc, problem.hint, snippet, width)
            found_refs.append(Ref(node.id, found, target, diag))
            self.referrers.setdefault(found.value.rpartition("/")[2], set()).add(node.id)
        self.refs[node.id] = found_refs

    _names_memo: dict[str, set[str]] | None = None

    def _names_cache(self) -> dict[str, set[str]]:
        if self._names_memo is None:
            self._names_memo = self._names()
        return self._names_memo

    _sorted: dict[str, list[str]] | None = None

    def _near(self, name: str, names: dict[str, set[str]]) -> dict[str, set[str]]:
        """``names`` cut down to those sharing ``name``'s first three characters (and ``name`` itself):
        what the did-you-mean hint of a dangling reference searches, at keystroke speed. (difflib over
        every name of a kind costs ~0.3 s at 10,000 nodes; a typo is rarely in the first three.)"""
        if all(len(ns) < 200 for ns in names.values()):
            return names
        if self._sorted is None:
            self._sorted = {k: sorted(ns) for k, ns in names.items()}
        prefix = name[:3]
        out: dict[str, set[str]] = {}
        for kind, ordered in self._sorted.items():
            lo = bisect.bisect_left(ordered, prefix)
            hi = bisect.bisect_left(ordered, prefix + "\U0010ffff")
            near = set(ordered[lo:hi]) if hi - lo < 400 else set(ordered[lo : lo + 400])
            if name in names.get(kind, ()):
                near.add(name)
            out[kind] = near
        return out

    def _name_added(self, nid: NodeId) -> None:
        if self._names_memo is not None and nid.name not in self._names_memo.get(nid.kind, ()):
            self._sorted = None
            self._names_memo.setdefault(nid.kind, set()).add(nid.name)

    def _name_removed(self, nid: NodeId) -> None:
        if self._names_memo is not None and nid not in self.by_id:
            self._sorted = None  # re-sorted (10,000 names) only when a name is really gone
            self._names_memo.get(nid.kind, set()).discard(nid.name)

    def locate(self, node: SpecNode, path: tuple[str | int, ...], key: bool = False) -> Any:
        self.text_of(node.file)
        return self.files[node.file].source_map().location(node.index, path, key)

    def _edges(self, among: dict[NodeId, SpecNode]) -> list[Edge]:
        edges: list[Edge] = []
        for nid in among:
            for r in self.refs.get(nid, ()):
                if r.target is None or r.target not in among:
                    continue
                if r.found.ref.direction == "upstream":
                    edges.append(Edge(r.target, nid, r.found.ref.edge, r.found.path))
                else:
                    edges.append(Edge(nid, r.target, r.found.ref.edge, r.found.path))
        return edges

    def _full_graph(self) -> LineageGraph:
        nodes = self.valid_nodes()
        specs = self.specset(nodes.values())
        edges = set(self._edges(specs.nodes))
        edges.update(gate_edges(specs))
        return from_edges(specs, edges)

    def graph(self) -> LineageGraph:
        """The whole lineage graph as the editor's text has it (rebuilt after a change, on demand)."""
        if self._graph is None:
            self._graph = self._full_graph()
        return self._graph

    def _run_rules(self, graph: LineageGraph, core: set[NodeId]) -> None:
        """Run the graph rules on ``graph`` and keep what they say about the ``core`` nodes."""
        from modelplane.compiler.graph.checks import check

        for nid in core:
            self.rule_diags.pop(nid, None)
        try:
            found = check(graph)
        except Exception:  # a rule that cannot run on a half-edited graph says nothing now
            found = []
        for d in found:
            owner = self._owner_of(d)
            if owner is not None and owner in core:
                self.rule_diags.setdefault(owner, []).append(d)

    def _owner_of(self, d: Diagnostic) -> NodeId | None:
        if d.location is None or d.location.file not in self.files:
            return None
        nodes = self.files[d.location.file].nodes
        if not nodes:
            return None
        sm = self.files[d.location.file].source_map()
        starts = [sm.document_start(n.index)[0] for n in nodes]
        at = bisect.bisect_right(starts, d.location.line) - 1
        return nodes[max(0, at)].id

    # -- one document changed --------------------------------------------------------------------------------------

    def update(self, path: str, text: str) -> set[str]:
        """Take the editor's ``text`` of spec file ``path``; returns the files whose diagnostics may have changed."""
        old = self.files.get(path)
        old_nodes = old.nodes if old else []
        state = FileState(path, text)
        result = self._parse(path, text)
        state.load_problems = list(result.problems)
        if result.docs is not None:
            for index, blob, model, own in result.docs:
                assert model is not None and isinstance(blob, bytes)  # parsed here: validated, as JSON
                kind, name = model.kind, model.metadata.name
                state.nodes.append(SpecNode(NodeId(kind.lower(), name), kind, path, index, blob, model, blob, own))
        state.nodes.extend(result.partial)
        self._invalid.update(id(n) for n in result.partial if n._model is None)
        state.nodes.sort(key=lambda n: n.index)
        self.files[path] = state
        kept = {n.id for n in state.nodes}
        for node in old_nodes:
            defs = [n for n in self.by_id.get(node.id, []) if n.file != path]
            if defs:
                self.by_id[node.id] = defs
            else:
                self.by_id.pop(node.id, None)
                if node.id not in kept:  # a name the file still defines stays in the name index
                    self._name_removed(node.id)
            self.refs.pop(node.id, None)
            self.rule_diags.pop(node.id, None)
            self._invalid.discard(id(node))
        for node in state.nodes:
            self.by_id.setdefault(node.id, []).append(node)
            self._name_added(node.id)
        old_ids = {n.id for n in old_nodes}
        new_ids = {n.id for n in state.nodes}
        names_changed = {n.name for n in old_ids ^ new_ids}
        touched = set(new_ids)
        # nodes elsewhere that name an added or removed node: their references resolve differently now
        for name in names_changed:
            touched.update(self.referrers.get(name, ()))
        for nid in touched:
            for node in self.by_id.get(nid, ()):
                self._index_refs(node)
        # a node another file still defines keeps its references (re-index it from its surviving definition)
        for nid in old_ids - new_ids:
            for node in self.by_id.get(nid, ()):
                self._index_refs(node)
        self._graph = None
        changed = touched | old_ids
        self._rerun_region(changed)
        files = {path} | {n.file for nid in changed for n in self.by_id.get(nid, ())}
        return files

    def _parse(self, path: str, text: str) -> FileResult:
        variables = self.project.variables_for(self.environment)
        overrides = self.project.environments[self.environment].overrides
        read = _read_file(path, text.encode(), self.project.limits)
        if isinstance(read, FileResult):
            return read
        return _load_file(path, *read, False, variables, overrides, _registered_kinds())

    def _parents(self, nid: NodeId) -> set[NodeId]:
        """Nodes ``nid`` reads from, from the reference index (no graph needed)."""
        out = {r.target for r in self.refs.get(nid, ()) if r.target is not None and r.found.ref.direction == "upstream"}
        for other in self.referrers.get(nid.name, ()):
            for r in self.refs.get(other, ()):
                if r.target == nid and r.found.ref.direction != "upstream":
                    out.add(other)
        return out

    def _children(self, nid: NodeId) -> set[NodeId]:
        out = {r.target for r in self.refs.get(nid, ()) if r.target is not None and r.found.ref.direction != "upstream"}
        for other in self.referrers.get(nid.name, ()):
            for r in self.refs.get(other, ()):
                if r.target == nid and r.found.ref.direction == "upstream":
                    out.add(other)
        return out

    def _rerun_region(self, changed: set[NodeId]) -> None:
        """The graph rules on the part of the graph ``changed`` can affect: the changed nodes and their
        children (whose inputs changed), every endpoint of a changed stack (pools add up their endpoints),
        with the parents of all of those, which the rules read. Only what the rules say about the first
        group (``core``) is replaced."""
        valid = {nid for nid in changed if nid in self.by_id}
        core = set(valid)
        for n in valid:
            kids = self._children(n)
            core.update(kids)
            if n.kind == "stack":
                core.update(kids)
        region = set(core)
        for n in core:
            region.update(self._parents(n))
            if n.kind == "endpoint":  # blocking evaluations of its model gate it
                model = next((r.target for r in self.refs.get(n, ()) if r.target and r.target.kind == "model"), None)
                if model is not None:
                    region.update(m for m in self._children(model) if m.kind == "evaluation")
        nodes = {nid: node for nid, node in self.valid_nodes_among(region).items()}
        specs = self.specset(nodes.values())
        edges = set(self._edges(specs.nodes))
        edges.update(gate_edges(specs))
        for nid in changed - set(nodes):
            self.rule_diags.pop(nid, None)
        self._run_rules(from_edges(specs, edges), core & set(nodes))

    def valid_nodes_among(self, ids: Iterable[NodeId]) -> dict[NodeId, SpecNode]:
        out = {}
        for nid in ids:
            valid = [n for n in self.by_id.get(nid, ()) if id(n) not in self._invalid]
            if valid:
                out[nid] = valid[0]
        return out

    # -- answers ---------------------------------------------------------------------------------------------------

    def diagnostics(self, path: str) -> list[Diagnostic]:
        """Everything wrong in one file: load problems, references, duplicates, graph rules."""
        f = self.files.get(path)
        if f is None:
            return []
        out = list(f.load_problems)
        seen_refs = {(d.code, d.location) for d in out}
        for node in f.nodes:
            for r in self.refs.get(node.id, ()):
                p = r.problem
                if p is not None and (p.code, p.location) not in seen_refs and p.location and p.location.file == path:
                    out.append(p)
            defs = self.by_id.get(node.id, [])
            if len(defs) > 1 and defs[0] is not node:
                first_loc = self.locate(defs[0], ("metadata", "name"))[0]
                out.append(
                    Diagnostic.at(
                        self.locate(node, ("metadata", "name")),
                        "duplicate-name",
                        f"{node.id} is defined twice",
                        "names are unique per kind; rename or remove one of the two",
                        related=(("first defined here", first_loc),),
                    )
                )
            out.extend(d for d in self.rule_diags.get(node.id, ()) if d.location and d.location.file == path)
        return out

    def node_at(self, path: str, line: int) -> SpecNode | None:
        """The node whose document holds 1-based ``line`` of ``path``."""
        f = self.files.get(path)
        if f is None or not f.nodes:
            return None
        self.text_of(path)
        sm = f.source_map()
        starts = [sm.document_start(n.index)[0] for n in f.nodes]
        at = bisect.bisect_right(starts, line) - 1
        return f.nodes[max(0, at)]

    def ref_at(self, path: str, line: int, column: int) -> Ref | None:
        """The reference written at 1-based ``line``/``column`` of ``path``, if any."""
        node = self.node_at(path, line)
        if node is None:
            return None
        for r in self.refs.get(node.id, ()):
            loc, _, width = self.locate(node, r.found.path)
            if loc.line == line and loc.column <= column <= loc.column + width:
                return r
        return None

    def references_to(self, target: NodeId) -> list[Ref]:
        return [r for nid in self.referrers.get(target.name, ()) for r in self.refs.get(nid, ()) if r.target == target]

    def definition(self, nid: NodeId) -> SpecNode | None:
        defs = self.by_id.get(nid)
        return defs[0] if defs else None


WORD = re.compile(r"[A-Za-z0-9_./-]+")


def word_at(line_text: str, column: int) -> tuple[str, int, int]:
    """The name-like word around 0-based ``column``: (word, start, end)."""
    for m in WORD.finditer(line_text):
        if m.start() <= column <= m.end():
            return m.group(0), m.start(), m.end()
    return "", column, column
