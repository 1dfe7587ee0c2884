"""Impact stage: what each change means downstream, with the chain of reasons that reached each node.

Changes propagate along the data flow as signals:

- ``schema``: a dataset's or feature's columns changed (column-level: a
  feature reading a removed or retyped column is *broken*; one that does not
  read it is unaffected);
- ``data``: the content changed (new version, location, upstream data), so
  what is computed or trained from it is stale: workflows re-run, models
  *retrain*;
- ``model``: a new model version: its evaluations *re-evaluate* and its
  endpoints *roll out*;
- ``serving``: an endpoint rolls out, so its consumers are *notified*;
- ``stale``: a model must retrain, so its evaluations re-run after the
  retrain. Where the workflow that trains it re-runs in this plan, its
  endpoints *roll out* the artifact it trains (as a canary, gated by the
  model's blocking evaluations); otherwise they are told, and the model's
  owner must retrain it.

Metadata-only changes propagate nothing. What each signal does along each
kind of edge is the table ``RULES``; every node downstream of a change is in
the result, as ``unaffected`` with the reason where no rule reached it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelplane.compiler.change.diff import Change, ColumnDelta, Diff
from modelplane.compiler.graph.lineage import Edge, LineageGraph
from modelplane.compiler.load.specset import SpecNode
from modelplane.compiler.timings import timed
from modelplane.specs.base import NodeId
from modelplane.specs.enums import PRODUCING_EDGES, EdgeKind
from modelplane.specs.kinds import registry
from modelplane.specs.kinds.facets import Category, Rule, Signal

__all__ = ["ACTIONABLE", "CATEGORY_ORDER", "RULES", "Affected", "Category", "Impact", "Rule", "Signal", "compute"]
CATEGORY_ORDER: tuple[Category, ...] = (
    "broken",
    "retrain-required",
    "re-evaluate-required",
    "rollout-required",
    "notify",
    "unaffected",
)
ACTIONABLE: frozenset[Category] = frozenset(CATEGORY_ORDER[:-1])
"""Every category but ``unaffected``: those someone must act on or be told about."""
_RANK = {c: i for i, c in enumerate(CATEGORY_ORDER)}


@dataclass
class Affected:
    """A node downstream of a change: its category (what it must do, or ``unaffected``) and why."""

    id: NodeId
    category: Category
    reasons: list[str] = field(default_factory=list)
    """The chain from the change to this node, upstream first."""
    broken_columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": str(self.id), "category": self.category, "reasons": self.reasons}
        if self.broken_columns:
            out["broken_columns"] = self.broken_columns
        return out


@dataclass
class Impact:
    """Every node downstream of a diff, by id: what each must do about it (``unaffected`` where nothing)."""

    affected: dict[NodeId, Affected]

    def by_category(self, category: Category) -> list[Affected]:
        return [a for a in self.affected.values() if a.category == category]


@dataclass(frozen=True)
class _Wave:
    """What reaches a node from a change upstream: its signal, the chain it came by, and any column changes."""

    signal: Signal
    chain: tuple[str, ...]
    source: NodeId
    columns: ColumnDelta | None = None


def _describe(change: Change) -> str:
    if change.change == "create":
        return f"{change.id} is new"
    if change.change == "delete":
        return f"{change.id} is deleted"
    bits = []
    if change.columns:
        c = change.columns
        bits += [f"removed column `{x}`" for x in c.removed]
        bits += [f"retyped column `{x}` {a} -> {b}" for x, a, b in c.retyped]
        bits += [f"added column `{x}`" for x in c.added]
    version = next((f for f in change.fields if f.path == "spec.version"), None)
    if version is not None:
        bits.append(f"version {version.before} -> {version.after}")
    if not bits:
        shown = [f.path for f in change.fields if f.path.startswith("spec.")][:3]
        bits.append("changed " + ", ".join(shown) if shown else "changed")
    return f"{change.id} {'; '.join(bits)}"


def _own_signals(change: Change) -> list[Signal]:
    """What a node's own change sends downstream (its kind's ``impact.own``)."""
    if change.effect == "metadata-only" or change.change == "delete":
        return []
    return registry.get(change.kind).impact.own(change)


# The propagation rules: (signal, edge kind, receiving kind) -> rule, each kind's ``impact.receives``
# (specs/kinds/) gathered into one table. A signal that arrives along an edge with no rule here leaves
# the node explicitly unaffected, with the edge and the signal named. Receivers whose own spec decides
# as well (see _special) say so by a flag of their kind: a feature reading a changed dataset's columns
# (column-level lineage), a workflow with retrain_on_change off, an endpoint of a model retrained here.
RULES: dict[tuple[Signal, str, str], Rule] = registry.impact_rules()
"""The built-in kinds' table (README shows it); ``_rules()`` follows the registry."""
_TABLE: dict[int, dict[tuple[Signal, str, str], Rule]] = {registry.version(): RULES}


def _rules() -> dict[tuple[Signal, str, str], Rule]:
    now = registry.version()
    if now not in _TABLE:
        _TABLE.clear()
        _TABLE[now] = registry.impact_rules()
    return _TABLE[now]


@timed("impact")
def compute(head: LineageGraph, diff: Diff) -> Impact:
    """Walk the graph in topological order, so each node sees every signal that reaches it.

    Every node downstream of a change ends up in the result: with a category and
    the chain of reasons that reached it, or as ``unaffected`` with the reason.
    """
    waves: dict[NodeId, list[tuple[Edge, _Wave]]] = {}
    affected: dict[NodeId, Affected] = {}
    passed_over: dict[NodeId, tuple[str, ...]] = {}
    retraining: set[NodeId] = set()
    """Stale models whose training workflow re-runs in this plan (decided before their endpoints, in order)."""

    def mark(nid: NodeId, category: Category, chain: tuple[str, ...], columns: list[str] | None = None) -> None:
        cur = affected.get(nid)
        if cur is None or _RANK[category] < _RANK[cur.category]:
            affected[nid] = Affected(nid, category, list(chain), list(columns or []))
        elif cur.category == category and columns:
            cur.broken_columns = sorted(set(cur.broken_columns) | set(columns))

    # only what is downstream of a change can be reached by a signal; a metadata-only change
    # (owner, description, labels) is not a change of the data flow and starts no closure
    flowing = [n for n, c in diff.changes.items() if c.effect != "metadata-only"]
    reach = set(diff.changes) | head.downstream(flowing)
    for nid in head.topo_order():
        if nid not in reach:
            continue
        node = head.nodes[nid]
        change = diff.of(nid)
        outgoing: list[_Wave] = []
        if change is not None:
            desc = _describe(change)
            for sig in _own_signals(change):
                outgoing.append(_Wave(sig, (desc,), nid, change.columns if sig == "schema" else None))
            itself = registry.get(change.kind).impact.marks_itself(change)
            if itself is not None and change.effect != "metadata-only":
                mark(nid, itself, (desc,))
        for edge, wave in waves.get(nid, []):
            outgoing.extend(_receive(node, edge, wave, mark, passed_over, retraining))
        if registry.get(node.kind).impact.retrains and _trained_here(head, nid, affected):
            retraining.add(nid)
        # forward each signal once per distinct chain head, to every child
        seen: set[tuple[Signal, tuple[str, ...]]] = set()
        for wave in outgoing:
            key = (wave.signal, wave.chain)
            if key in seen:
                continue
            seen.add(key)
            for edge in head.out_edges(nid):
                waves.setdefault(edge.target, []).append((edge, wave))
    # in topological order, so a node's reason can name the unaffected parent that stopped it
    for nid in head.topo_order():
        if nid in reach and nid not in affected and nid not in diff.changes:
            why = passed_over.get(nid) or _untouched(head, nid, affected, diff)
            affected[nid] = Affected(nid, "unaffected", list(why))
    return Impact(dict(sorted(affected.items())))


def _untouched(head: LineageGraph, nid: NodeId, affected: dict[NodeId, Affected], diff: Diff) -> tuple[str, ...]:
    """Why a node downstream of a change got no signal at all: what stopped upstream of it."""
    parents = [p for p in head.parents(nid) if p in affected or p in diff.changes]
    p = parents[0]  # in topological order every parent inside the closure is decided by now
    state = affected[p].category if p in affected else "changed"
    if state == "unaffected":
        return (*affected[p].reasons, f"{nid} depends only on what is unaffected")
    return (f"{p} is {state}, which does not change what {nid} uses",)


def _receive(
    node: SpecNode,
    edge: Edge,
    wave: _Wave,
    mark: Any,
    passed_over: dict[NodeId, tuple[str, ...]],
    retraining: set[NodeId],
) -> list[_Wave]:
    nid, here = node.id, str(node.id)
    special = _special(node, edge, wave, mark, passed_over)
    if special is None:
        special = _retrained(node, edge, wave, mark, retraining)
    if special is not None:
        return special
    rule = _rules().get((wave.signal, edge.kind, node.kind))
    if rule is None:
        passed_over.setdefault(
            nid, (*wave.chain, f"{here} is reached through `{edge.kind}`, which carries no {wave.signal} change")
        )
        return []
    tier_field = registry.get(node.kind).tier
    tier = node.spec_field(tier_field) if tier_field is not None else None
    chain = (*wave.chain, rule.reason.format(node=here, tier=tier))
    mark(nid, rule.category, chain)
    return [_Wave(rule.sends, chain, nid)] if rule.sends is not None else []


def _special(
    node: SpecNode, edge: Edge, wave: _Wave, mark: Any, passed_over: dict[NodeId, tuple[str, ...]]
) -> list[_Wave] | None:
    """The two receivers whose own spec decides: None when the table applies."""
    here = str(node.id)
    rules = registry.get(node.kind).impact
    if rules.column_level and edge.kind == EdgeKind.READS and wave.signal == "schema" and wave.columns is not None:
        inputs = node.spec["inputs"]
        read = {c for inp in inputs if NodeId("dataset", inp["dataset"]) == wave.source for c in inp["columns"]}
        lost = sorted(read & (set(wave.columns.removed) | {c for c, _, _ in wave.columns.retyped}))
        if lost:
            chain = (*wave.chain, f"{here} reads {', '.join(f'`{c}`' for c in lost)}")
            mark(node.id, "broken", chain, lost)
            return [_Wave("data", chain, node.id)]
        # column-level lineage: the columns it reads are untouched
        shown = ", ".join(f"`{c}`" for c in sorted(read)) or "no columns"
        passed_over.setdefault(node.id, (*wave.chain, f"{here} reads only {shown}, none of them changed"))
        return []
    switch = rules.switch  # retrain_on_change: off, a changed input is only told
    if switch is not None and (wave.signal, edge.kind, node.kind) in _rules() and not node.spec_field(switch):
        mark(node.id, "notify", (*wave.chain, f"{here} has a changed input (retrain_on_change is off)"))
        return []
    return None


def _trained_here(head: LineageGraph, model: NodeId, affected: dict[NodeId, Affected]) -> bool:
    """A stale model retrains in this plan: a workflow producing it must re-run (``retrain_on_change`` on)."""
    if model not in affected or affected[model].category != "retrain-required":
        return False
    producers = [e.source for e in head.in_edges(model) if e.kind in PRODUCING_EDGES]
    return any(p in affected and affected[p].category == "retrain-required" for p in producers)


def _retrained(node: SpecNode, edge: Edge, wave: _Wave, mark: Any, retraining: set[NodeId]) -> list[_Wave] | None:
    """An endpoint serving a model this plan retrains rolls the trained artifact out (None: the table applies)."""
    rolls_out = registry.get(node.kind).impact.rolls_out_retrained
    if not (rolls_out and edge.kind == EdgeKind.SERVES and wave.signal == "stale"):
        return None
    if wave.source not in retraining:
        return None
    chain = (*wave.chain, f"{node.id} rolls out the artifact trained in this apply as a canary")
    mark(node.id, "rollout-required", chain)
    return [_Wave("serving", chain, node.id)]


def rules_table() -> str:
    """RULES as the markdown table docs/plans.md shows (a test keeps the two equal)."""
    rows = ["| change arriving | along edge | at | category | passes on |", "|---|---|---|---|---|"]
    rows.append(
        "| schema | `reads` | Feature | broken if it reads a removed or retyped column, else unaffected | data |"
    )
    for (signal, edge, kind), rule in RULES.items():
        rows.append(f"| {signal} | `{edge}` | {kind} | {rule.category} | {rule.sends or '-'} |")
    rows.append("| any | `input` | Workflow with `retrain_on_change: false` | notify | - |")
    rows.append(
        "| stale | `serves` | Endpoint of a model whose workflow re-runs in the plan | rollout-required | serving |"
    )
    rows.append("| any other | any other | any | unaffected, naming the edge | - |")
    return "\n".join(rows)
