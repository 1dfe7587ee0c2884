"""Link stage: the typed lineage graph.

Edges follow the data (dataset -> feature -> model -> evaluation -> endpoint ->
service, workflow inputs and outputs, stack -> endpoint). Every edge comes from
a reference declared in a spec, except ``gates``: each blocking evaluation of a
model gates every endpoint that serves it.

The graph keeps its own sorted adjacency maps: traversals (impact, selectors)
are on the hot path of every plan and must not pay for importing networkx
(0.12 s here, 40% of the warm-plan budget). ``to_networkx()`` gives a
``networkx.DiGraph`` for algorithms and scripts that want one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from modelplane.compiler.graph.toposort import toposort
from modelplane.compiler.load.references import Link, resolve
from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.compiler.timings import timed
from modelplane.errors import Diagnostic, GraphError
from modelplane.specs.base import NodeId
from modelplane.specs.enums import EdgeKind, Kind

if TYPE_CHECKING:
    import networkx as nx

    from modelplane.compiler.change.state import TrainedArtifact


class Edge(NamedTuple):
    """One edge (a tuple: tens of thousands are built per compile, in C; ordered by its fields)."""

    source: NodeId
    target: NodeId
    kind: str
    path: tuple[str | int, ...] = ()
    """Where in the referencing document the edge was declared (empty for derived edges)."""


@dataclass
class LineageGraph:
    """Nodes by id and edges in both directions, everything in deterministic order."""

    specs: SpecSet
    edges: list[Edge] = field(default_factory=list)
    _out: dict[NodeId, list[Edge]] = field(default_factory=dict)
    _in: dict[NodeId, list[Edge]] = field(default_factory=dict)
    _order: list[NodeId] | None = None
    _parents: dict[NodeId, list[NodeId]] = field(default_factory=dict)
    trained: dict[NodeId, TrainedArtifact] = field(default_factory=dict)
    """The applied state's graph only: each model's artifact a retrain registered (``compiler.plan.artifacts``)."""
    served: dict[NodeId, str] = field(default_factory=dict)
    """The applied state's graph only: the trained artifact's digest each endpoint serves."""

    @classmethod
    def indexed(cls, specs: SpecSet, edges: list[Edge], order: list[NodeId] | None = None) -> LineageGraph:
        """The graph of ``edges`` (already in order), indexed in both directions; ``order``: a known
        topological order (the graph cache's), else computed on first use."""
        out: dict[NodeId, list[Edge]] = {}
        inn: dict[NodeId, list[Edge]] = {}
        for e in edges:
            out.setdefault(e.source, []).append(e)
            inn.setdefault(e.target, []).append(e)
        return cls(specs, edges, out, inn, order)

    @property
    def nodes(self) -> dict[NodeId, SpecNode]:
        return self.specs.nodes

    def __contains__(self, node: object) -> bool:
        return node in self.specs.nodes

    def __len__(self) -> int:
        return len(self.specs.nodes)

    def out_edges(self, node: NodeId) -> list[Edge]:
        return self._out.get(node, [])

    def in_edges(self, node: NodeId) -> list[Edge]:
        return self._in.get(node, [])

    def children(self, node: NodeId) -> list[NodeId]:
        return sorted({e.target for e in self.out_edges(node)})

    def parents(self, node: NodeId) -> list[NodeId]:
        found = self._parents.get(node)
        if found is None:
            # edges are sorted by source, so de-duplicating in order keeps them sorted
            found = self._parents[node] = list(dict.fromkeys(e.source for e in self.in_edges(node)))
        return found

    def downstream(self, start: Iterable[NodeId], depth: int | None = None) -> set[NodeId]:
        """Every node reachable from ``start`` along the data flow (``start`` excluded)."""
        return self._reach(start, self._out, "target", depth)

    def upstream(self, start: Iterable[NodeId], depth: int | None = None) -> set[NodeId]:
        return self._reach(start, self._in, "source", depth)

    def upstream_within(self, start: Iterable[NodeId], region: set[NodeId]) -> set[NodeId]:
        """``upstream(start)`` walked only through ``region``: the nodes of ``region`` upstream of ``start``."""
        starts = set(start)
        seen: set[NodeId] = set()
        stack = list(starts)
        while stack:
            for e in self._in.get(stack.pop(), ()):
                nxt = e.source
                if nxt not in seen and nxt in region:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen - starts

    def _reach(
        self, start: Iterable[NodeId], adj: dict[NodeId, list[Edge]], end: str, depth: int | None
    ) -> set[NodeId]:
        starts = set(start)
        seen: set[NodeId] = set()
        if depth is None:  # the common case: no levels to count, a plain stack
            stack = list(starts)
            while stack:
                for e in adj.get(stack.pop(), ()):
                    nxt: NodeId = getattr(e, end)
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            return seen - starts
        queue = deque((s, 0) for s in starts)
        while queue:
            node, d = queue.popleft()
            if depth is not None and d >= depth:
                continue
            for e in adj.get(node, ()):
                nxt = getattr(e, end)
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append((nxt, d + 1))
        return seen - starts

    def topo_order(self, subset: Iterable[NodeId] | None = None) -> list[NodeId]:
        """Kahn's sort with ties broken by id; raises ``CycleError`` with the cycle's path."""
        if subset is None and self._order is not None:
            return self._order
        if subset is None:
            chosen = list(self.nodes)  # the loader keeps nodes sorted by id
        else:
            wanted = set(subset)
            chosen = sorted(wanted) if wanted - self.nodes.keys() else [n for n in self.nodes if n in wanted]
        rank = {n: i for i, n in enumerate(chosen)}
        out = self._out
        edges = ((i, r) for i, n in enumerate(chosen) for e in out.get(n, ()) if (r := rank.get(e.target)) is not None)
        order, stuck = toposort(chosen, edges)
        if stuck:
            raise CycleError(self.find_cycle([chosen[i] for i in stuck]), self)
        if subset is None:
            self._order = order
        return order

    def find_cycle(self, among: list[NodeId]) -> list[NodeId]:
        """One cycle through the given nodes, as a closed path [a, b, ..., a]."""
        import networkx as nx

        sub = self.to_networkx().subgraph(among)
        cycle = nx.find_cycle(sub)
        # start the path at its smallest node, so the same cycle always reads the same way
        nodes = [edge[0] for edge in cycle]
        start = nodes.index(min(nodes))
        ordered = nodes[start:] + nodes[:start]
        return [*ordered, ordered[0]]

    def to_networkx(self) -> nx.DiGraph:
        import networkx as nx

        g = nx.DiGraph()
        for nid, node in self.nodes.items():
            g.add_node(nid, kind=node.kind, owner=node.owner)
        for e in self.edges:
            g.add_edge(e.source, e.target, kind=e.kind)
        return g

    def patched(self, specs: SpecSet, removed: set[Edge], added: set[Edge]) -> LineageGraph:
        """This graph's edges less ``removed`` plus ``added``, over the nodes of ``specs``.

        The same graph ``from_edges`` would build from the result, at the cost of
        the edges that differ rather than all of them.
        """
        out = dict(self._out)
        inn = dict(self._in)
        for adj, end in ((out, "source"), (inn, "target")):
            gone: dict[NodeId, list[Edge]] = {}
            for e in removed:
                gone.setdefault(getattr(e, end), []).append(e)
            new: dict[NodeId, list[Edge]] = {}
            for e in added:
                new.setdefault(getattr(e, end), []).append(e)
            for nid in gone.keys() | new.keys():
                drop = set(gone.get(nid, ()))
                edges = [e for e in adj.get(nid, ()) if e not in drop] + new.get(nid, [])
                edges.sort(key=_edge_key)
                if edges:
                    adj[nid] = edges
                else:
                    adj.pop(nid, None)
        ordered: list[Edge] = []
        for nid in specs.nodes:
            ordered.extend(out.get(nid, ()))
        return LineageGraph(specs, ordered, out, inn)

    def subgraph_edges(self, nodes: set[NodeId]) -> list[Edge]:
        return [e for e in self.edges if e.source in nodes and e.target in nodes]

    def iter_kind(self, kind: str) -> Iterator[SpecNode]:
        return iter(self.specs.of_kind(kind))


class CycleError(GraphError):
    """A lineage cycle (``path`` is closed: [a, b, ..., a]). ``checks.cycle_diagnostic`` locates it at the
    reference that closes it; uncaught, it still reads as the graph error it is."""

    def __init__(self, path: list[NodeId], graph: LineageGraph) -> None:
        self.path = path
        self.graph = graph
        chain = " -> ".join(str(p) for p in path)
        super().__init__(
            Diagnostic(
                "cycle", f"lineage cycle: {chain}", hint="data must flow one way; remove one of these references"
            )
        )


DECLARED_BY_SOURCE = frozenset({EdgeKind.OUTPUT})
"""Edge kinds written on their source node (a workflow names its outputs); every other
declared edge is written on its target (a feature names the dataset it reads)."""


def declared_by(edge: Edge) -> NodeId:
    """The node whose document holds the reference behind ``edge``."""
    return edge.source if edge.kind in DECLARED_BY_SOURCE else edge.target


@timed("graph")
def build(specs: SpecSet, links: list[Link] | None = None, partial: bool = False) -> LineageGraph:
    """The lineage graph of a loaded spec set.

    ``partial``: the nodes may reference nodes that are not there (an applied
    state that a failed apply left half-way); such edges are left out.
    """
    if links is None:
        links = specs.links
    if links is None:
        links, problems = resolve(specs, describe=not partial)
        if problems and not partial:  # a loaded SpecSet was already checked; this is a bug, not user input
            raise AssertionError(problems[0].message)
    edges: set[Edge] = set()
    new = tuple.__new__  # an Edge made in C: a NamedTuple's own __new__ is a Python function (~17,000 edges)
    for link in links:
        if link.upstream:
            edges.add(new(Edge, (link.target, link.node, link.edge, link.path)))
        else:
            edges.add(new(Edge, (link.node, link.target, link.edge, link.path)))
    edges.update(gate_edges(specs))
    return from_edges(specs, edges)


def gate_edges(specs: SpecSet) -> list[Edge]:
    """The derived edges: every blocking evaluation of a model gates the endpoints serving it."""
    evals_by_model: dict[str, list[NodeId]] = {}
    for node in specs.of_kind(Kind.EVALUATION):
        if node.spec_field("blocking"):
            evals_by_model.setdefault(node.spec_field("model"), []).append(node.id)
    return [
        Edge(ev, node.id, EdgeKind.GATES.value)  # edges hold plain strings, as documents do
        for node in specs.of_kind(Kind.ENDPOINT)
        for ev in evals_by_model.get(node.spec_field("model"), ())
    ]


def from_edges(specs: SpecSet, edges: Iterable[Edge]) -> LineageGraph:
    """The graph of these nodes and edges, edges in (source, target, kind) order."""
    # sort per source (small lists) and concatenate in node order: the same order as sorting
    # every edge, without an O(E log E) sort of NodeId tuples (a second at 100,000 nodes)
    by_source: dict[NodeId, list[Edge]] = {}
    for e in edges:
        by_source.setdefault(e.source, []).append(e)
    ordered: list[Edge] = []
    out: dict[NodeId, list[Edge]] = {}
    for nid in specs.nodes:  # the loader keeps nodes sorted by id
        out_edges = by_source.get(nid)
        if out_edges:
            if len(out_edges) > 1:
                out_edges.sort(key=_edge_key)
            ordered.extend(out_edges)
            out[nid] = out_edges  # the outgoing index as ``indexed`` builds it, in one pass less
    inn: dict[NodeId, list[Edge]] = {}
    for e in ordered:
        inn.setdefault(e.target, []).append(e)
    return LineageGraph(specs, ordered, out, inn)


_edge_key: Callable[[Edge], tuple[NodeId, NodeId, str]] = itemgetter(0, 1, 2)
"""An edge's (source, target, kind), its order: picked in C (a key function per edge was a fifth of building the
graph)."""


def node_json(node: SpecNode) -> dict[str, Any]:
    return {
        "id": str(node.id),
        "kind": node.kind,
        "name": node.name,
        "owner": node.owner,
        "labels": node.data["metadata"]["labels"],
        "file": node.file,
    }
