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
from typing import Any, Literal

from modelplane.compiler.change.diff import Change, ColumnDelta, Diff
from modelplane.compiler.graph.lineage import Edge, LineageGraph
from modelplane.compiler.load.specset import SpecNode
from modelplane.compiler.timings import timed
from modelplane.specs.base import NodeId

Category = Literal["broken", "retrain-required", "re-evaluate-required", "rollout-required", "notify", "unaffected"]
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

Signal = Literal["schema", "data", "model", "serving", "stale"]


@dataclass
class Affected:
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
    affected: dict[NodeId, Affected]

    def by_category(self, category: Category) -> list[Affected]:
        return [a for a in self.affected.values() if a.category == category]


@dataclass(frozen=True)
class _Wave:
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
    """What a node's own change sends downstream."""
    if change.effect == "metadata-only" or change.change == "delete":
        return []
    kind = change.kind
    paths = {f.path for f in change.fields}
    if kind in ("Dataset", "Feature"):
        if change.change == "create":
            return []
        signals: list[Signal] = []
        if change.columns:
            signals.append("schema")
        non_column = {p for p in paths if not p.startswith(("spec.schema", "spec.columns"))}
        if non_column - {"spec.freshness"}:
            signals.append("data")
        return signals
    if kind == "Model":
        return ["model"] if change.change != "create" else []
    if kind == "Workflow":
        return ["data"] if change.change != "create" else []
    if kind == "Endpoint":
        return ["serving"]
    if kind == "Stack":
        return ["serving"] if change.change != "create" else []
    return []


@dataclass(frozen=True)
class Rule:
    """What a signal arriving along an edge does to the node at its end."""

    category: Category
    reason: str
    """About the receiving node; ``{node}`` is its id."""
    sends: Signal | None = None
    """The signal it passes on downstream, if any."""


# The propagation rules, in one place: (signal, edge kind, receiving kind) -> rule. A signal that
# arrives along an edge with no rule here leaves the node explicitly unaffected, with the edge
# and the signal named. Two receivers decide on their spec as well (see _special): a feature
# reading a changed dataset's columns (column-level lineage) and a workflow with retrain_on_change off.
_DATA: tuple[Signal, ...] = ("schema", "data")
_NOT_DATA: tuple[Signal, ...] = ("model", "serving", "stale")
RULES: dict[tuple[Signal, str, str], Rule] = {
    **{(s, "derives", "Dataset"): Rule("notify", "{node} is derived from changed data", "data") for s in _DATA},
    ("data", "reads", "Feature"): Rule("notify", "{node} is computed from changed data", "data"),
    **{
        (s, "input", "Workflow"): Rule("retrain-required", "{node} must re-run: an input changed", "data")
        for s in _DATA
    },
    ("model", "input", "Workflow"): Rule("retrain-required", "{node} must re-run: an input changed", "data"),
    ("data", "output", "Dataset"): Rule("notify", "{node} is derived from changed data", "data"),
    ("data", "output", "Feature"): Rule("notify", "{node} is computed from changed data", "data"),
    ("data", "output", "Model"): Rule("retrain-required", "{node} is stale: trained on changed data", "stale"),
    ("data", "produces", "Model"): Rule("retrain-required", "{node} is stale: trained on changed data", "stale"),
    **{
        (s, "trained_on", "Model"): Rule("retrain-required", "{node} is stale: trained on changed data", "stale")
        for s in _DATA
    },
    **{
        (s, "evaluates_on", "Evaluation"): Rule("re-evaluate-required", "{node} evaluates on changed data")
        for s in _DATA
    },
    ("model", "evaluates", "Evaluation"): Rule("re-evaluate-required", "{node} must re-run for the new model version"),
    ("stale", "evaluates", "Evaluation"): Rule(
        "re-evaluate-required", "{node} must re-run once the model is retrained"
    ),
    ("model", "serves", "Endpoint"): Rule("rollout-required", "{node} rolls out the new version", "serving"),
    ("stale", "serves", "Endpoint"): Rule(
        "notify", "{node} serves it (stale: nothing in this plan retrains the model)", "stale"
    ),
    ("serving", "hosts", "Endpoint"): Rule("notify", "{node} runs on the changed stack"),
    **{(s, "consumes", "Service"): Rule("notify", "{node} (tier {tier}) consumes it") for s in _DATA},
    **{(s, "consumes", "Service"): Rule("notify", "{node} (tier {tier}) consumes it") for s in _NOT_DATA},
    # a blocking evaluation gates its model's endpoints: a re-run decides whether they may roll out,
    # but does not change what they serve (they are reached through `serves` when they do)
}


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
            if change.kind == "Endpoint" and change.change != "create" and change.effect != "metadata-only":
                mark(nid, "rollout-required", (desc,))
            if change.kind == "Evaluation" and change.change == "update" and change.effect != "metadata-only":
                mark(nid, "re-evaluate-required", (desc,))
        for edge, wave in waves.get(nid, []):
            outgoing.extend(_receive(node, edge, wave, mark, passed_over, retraining))
        if node.kind == "Model" and _trained_here(head, nid, affected):
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
    rule = RULES.get((wave.signal, edge.kind, node.kind))
    if rule is None:
        passed_over.setdefault(
            nid, (*wave.chain, f"{here} is reached through `{edge.kind}`, which carries no {wave.signal} change")
        )
        return []
    tier = node.spec["tier"] if node.kind == "Service" else None
    chain = (*wave.chain, rule.reason.format(node=here, tier=tier))
    mark(nid, rule.category, chain)
    return [_Wave(rule.sends, chain, nid)] if rule.sends is not None else []


def _special(
    node: SpecNode, edge: Edge, wave: _Wave, mark: Any, passed_over: dict[NodeId, tuple[str, ...]]
) -> list[_Wave] | None:
    """The two receivers whose own spec decides: None when the table applies."""
    here = str(node.id)
    if node.kind == "Feature" and edge.kind == "reads" and wave.signal == "schema" and wave.columns is not None:
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
    retrains = node.kind == "Workflow" and (wave.signal, edge.kind, "Workflow") in RULES
    if retrains and not node.spec["retrain_on_change"]:
        mark(node.id, "notify", (*wave.chain, f"{here} has a changed input (retrain_on_change is off)"))
        return []
    return None


def _trained_here(head: LineageGraph, model: NodeId, affected: dict[NodeId, Affected]) -> bool:
    """A stale model retrains in this plan: a workflow producing it must re-run (``retrain_on_change`` on)."""
    if model not in affected or affected[model].category != "retrain-required":
        return False
    producers = [e.source for e in head.in_edges(model) if e.kind in ("output", "produces")]
    return any(p in affected and affected[p].category == "retrain-required" for p in producers)


def _retrained(node: SpecNode, edge: Edge, wave: _Wave, mark: Any, retraining: set[NodeId]) -> list[_Wave] | None:
    """An endpoint serving a model this plan retrains rolls the trained artifact out (None: the table applies)."""
    if not (node.kind == "Endpoint" and edge.kind == "serves" and wave.signal == "stale"):
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
