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
- ``stale``: a model must retrain, so its endpoints and consumers are told
  (evaluations and rollouts follow once the retrained version is declared).

Metadata-only changes propagate nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from modelplane.compiler.diff import Change, ColumnDelta, Diff
from modelplane.compiler.graph import Edge, LineageGraph
from modelplane.compiler.timings import timed
from modelplane.specs.base import NodeId

Category = Literal["broken", "retrain-required", "re-evaluate-required", "rollout-required", "notify"]
CATEGORY_ORDER: tuple[Category, ...] = (
    "broken",
    "retrain-required",
    "re-evaluate-required",
    "rollout-required",
    "notify",
)
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


@timed("impact")
def compute(head: LineageGraph, diff: Diff) -> Impact:
    """Walk the graph in topological order, so each node sees every signal that reaches it."""
    waves: dict[NodeId, list[_Wave]] = {}
    affected: dict[NodeId, Affected] = {}

    def mark(nid: NodeId, category: Category, chain: tuple[str, ...], columns: list[str] | None = None) -> None:
        cur = affected.get(nid)
        if cur is None or _RANK[category] < _RANK[cur.category]:
            affected[nid] = Affected(nid, category, list(chain), list(columns or []))
        elif cur.category == category and columns:
            cur.broken_columns = sorted(set(cur.broken_columns) | set(columns))

    def send(edge: Edge, wave: _Wave) -> None:
        waves.setdefault(edge.target, []).append(wave)

    # only what is downstream of a change can be reached by a signal
    reach = set(diff.changes) | head.downstream(diff.changes)
    for nid in head.topo_order():
        if nid not in reach:
            continue
        node = head.nodes[nid]
        change = diff.of(nid)
        incoming = waves.get(nid, [])
        outgoing: list[_Wave] = []
        if change is not None:
            desc = _describe(change)
            for sig in _own_signals(change):
                outgoing.append(_Wave(sig, (desc,), nid, change.columns if sig == "schema" else None))
            if change.kind == "Endpoint" and change.change != "create" and change.effect != "metadata-only":
                mark(nid, "rollout-required", (desc,))
            if change.kind == "Evaluation" and change.change == "update" and change.effect != "metadata-only":
                mark(nid, "re-evaluate-required", (desc,))
        for wave in incoming:
            outgoing.extend(_receive(head, node.kind, nid, node.spec, wave, mark))
        # forward each signal once per distinct chain head, to every child along a matching edge
        seen: set[tuple[Signal, tuple[str, ...]]] = set()
        for wave in outgoing:
            key = (wave.signal, wave.chain)
            if key in seen:
                continue
            seen.add(key)
            for edge in head.out_edges(nid):
                if _carries(edge, wave.signal):
                    send(edge, wave)
    return Impact(dict(sorted(affected.items())))


def _carries(edge: Edge, signal: Signal) -> bool:
    """Which edges a signal travels along."""
    if signal in ("schema", "data"):
        return edge.kind in (
            "derives",
            "reads",
            "input",
            "output",
            "trained_on",
            "produces",
            "evaluates_on",
            "consumes",
        )
    if signal == "model":
        return edge.kind in ("evaluates", "serves", "input", "consumes")
    if signal == "stale":
        return edge.kind in ("serves", "consumes")
    return edge.kind in ("consumes", "hosts")


def _receive(
    graph: LineageGraph,
    kind: str,
    nid: NodeId,
    spec: dict[str, Any],
    wave: _Wave,
    mark: Any,
) -> list[_Wave]:
    here = str(nid)
    if kind == "Feature" and wave.signal == "schema" and wave.columns is not None:
        read = {c for inp in spec["inputs"] if NodeId("dataset", inp["dataset"]) == wave.source for c in inp["columns"]}
        lost = sorted(read & (set(wave.columns.removed) | {c for c, _, _ in wave.columns.retyped}))
        if lost:
            chain = (*wave.chain, f"{here} reads {', '.join(f'`{c}`' for c in lost)}")
            mark(nid, "broken", chain, lost)
            return [_Wave("data", chain, nid)]
        return []  # column-level lineage: the columns it reads are untouched
    if kind == "Dataset" and wave.signal in ("schema", "data"):
        chain = (*wave.chain, f"{here} is derived from changed data")
        mark(nid, "notify", chain)
        return [_Wave("data", chain, nid)]
    if kind == "Feature" and wave.signal == "data":
        chain = (*wave.chain, f"{here} is computed from changed data")
        mark(nid, "notify", chain)
        return [_Wave("data", chain, nid)]
    if kind == "Workflow" and wave.signal in ("schema", "data", "model"):
        if spec["retrain_on_change"]:
            chain = (*wave.chain, f"{here} must re-run: an input changed")
            mark(nid, "retrain-required", chain)
            return [_Wave("data", chain, nid)]
        mark(nid, "notify", (*wave.chain, f"{here} has a changed input (retrain_on_change is off)"))
        return []
    if kind == "Model" and wave.signal in ("schema", "data"):
        chain = (*wave.chain, f"{here} is stale: trained on changed data")
        mark(nid, "retrain-required", chain)
        return [_Wave("stale", chain, nid)]
    if kind == "Evaluation" and wave.signal == "model":
        chain = (*wave.chain, f"{here} must re-run for the new model version")
        mark(nid, "re-evaluate-required", chain)
        return []
    if kind == "Evaluation" and wave.signal in ("schema", "data"):
        chain = (*wave.chain, f"{here} evaluates on changed data")
        mark(nid, "re-evaluate-required", chain)
        return []
    if kind == "Endpoint" and wave.signal == "model":
        chain = (*wave.chain, f"{here} rolls out the new version")
        mark(nid, "rollout-required", chain)
        return [_Wave("serving", chain, nid)]
    if kind == "Endpoint" and wave.signal == "serving":
        chain = (*wave.chain, f"{here} runs on the changed stack")
        mark(nid, "notify", chain)
        return []
    if kind == "Endpoint" and wave.signal == "stale":
        chain = (*wave.chain, f"{here} serves it (rolls out once the model is retrained)")
        mark(nid, "notify", chain)
        return [_Wave("stale", chain, nid)]
    if kind == "Service":
        tier = spec["tier"]
        chain = (*wave.chain, f"{here} (tier {tier}) consumes it")
        mark(nid, "notify", chain)
        return []
    return []
