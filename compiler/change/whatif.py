"""``impact SELECTOR``: the blast radius of changing the selected nodes.

Without a base the selected nodes are treated as changed in the way their kind
usually changes (new data, a new model version, a new endpoint revision);
with ``--base`` (or, for a ``state:`` selector, against the applied state) the
real changes of the selected nodes are used. ``modified_nodes`` is what
``state:modified`` means for ``graph``, ``impact`` and ``plan`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelplane.compiler.change.diff import Change, Diff, FieldChange
from modelplane.compiler.change.impact import Affected, Impact, compute
from modelplane.compiler.change.state import StateReader
from modelplane.compiler.compile import PlanResult, compile_graph, make_plan
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.graph.selectors import selection
from modelplane.specs.base import NodeId


@dataclass(frozen=True)
class ImpactReport:
    """What ``impact SELECTOR`` found: the nodes taken as changed, what their change affects downstream (the
    changed nodes themselves left out), and why nothing was selected where that is no error."""

    changed: list[NodeId]
    affected: list[Affected]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``impact --format json``: ``changed`` ids, ``impact`` (each ``Affected.to_json``), ``warnings``."""
        return {
            "changed": [str(n) for n in self.changed],
            "impact": [a.to_json() for a in self.affected],
            "warnings": list(self.warnings),
        }


def hypothetical(graph: LineageGraph, nodes: set[NodeId]) -> Impact:
    """Impact if every node in ``nodes`` changed its spec (a non-breaking, data-level change)."""
    changes = {
        n: Change(n, graph.nodes[n].kind, "update", "non-breaking", [FieldChange("spec", "before", "after")])
        for n in sorted(nodes)
    }
    return compute(graph, Diff(changes))


def uses_state(selector: str | None) -> bool:
    """Whether a selector needs something to compare with (``state:modified``)."""
    return selector is not None and "state:" in selector


def modified_nodes(
    root: Path,
    env: str | None,
    *,
    base_ref: str | None,
    state: StateReader | None,
    use_cache: bool = True,
) -> tuple[PlanResult, dict[NodeId, Change]] | None:
    """What ``state:modified`` means: the nodes that differ from git ref ``base_ref`` or, without one,
    from the applied ``state``, each with its change (``state:new``, ``state:modified.<part>`` read it);
    None when there is neither (the selector then says what to pass)."""
    if base_ref is None and state is None:
        return None
    planned = make_plan(root, env, base_ref=base_ref, state=state, allow_breaking=True, use_cache=use_cache)
    return planned, dict(planned.diff.changes)


def impact_of(
    root: Path,
    selector: str,
    *,
    env: str | None = None,
    base_ref: str | None = None,
    state: StateReader | None = None,
    use_cache: bool = True,
    exclude: str | None = None,
) -> ImpactReport:
    """Impact of the selected nodes changing: hypothetical, or (with ``base_ref``, or a ``state:``
    selector and an applied ``state``) of how they did change."""
    stateful = uses_state(selector) or uses_state(exclude)
    against = modified_nodes(root, env, base_ref=base_ref, state=state if stateful else None, use_cache=use_cache)
    if against is None:
        compiled = compile_graph(root, env, use_cache=use_cache)
        picked = selection(compiled.graph, selector, None, exclude)
        chosen = picked.nodes
        result = hypothetical(compiled.graph, chosen)
        changed = sorted(chosen)
    else:
        planned, modified = against
        graph = planned.head.graph
        picked = selection(graph, selector, modified, exclude)
        chosen = picked.nodes
        real = set(planned.diff.changes) & chosen
        result = compute(graph, Diff({n: c for n, c in planned.diff.changes.items() if n in real}))
        changed = sorted(real)
    taken = set(changed)
    return ImpactReport(changed, [a for a in result.affected.values() if a.id not in taken], list(picked.warnings))
