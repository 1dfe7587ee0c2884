"""``impact SELECTOR``: the blast radius of changing the selected nodes.

Without a base the selected nodes are treated as changed in the way their kind
usually changes (new data, a new model version, a new endpoint revision);
with ``--base`` the real changes of the selected nodes are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.compiler.diff import Change, Diff, FieldChange
from modelplane.compiler.graph import LineageGraph
from modelplane.compiler.impact import Impact, compute
from modelplane.compiler.selectors import select
from modelplane.specs.base import NodeId


def hypothetical(graph: LineageGraph, nodes: set[NodeId]) -> Impact:
    """Impact if every node in ``nodes`` changed its spec (a non-breaking, data-level change)."""
    changes = {
        n: Change(n, graph.nodes[n].kind, "update", "non-breaking", [FieldChange("spec", "before", "after")])
        for n in sorted(nodes)
    }
    return compute(graph, Diff(changes))


def impact_of(
    root: Path, selector: str, *, env: str | None = None, base_ref: str | None = None, use_cache: bool = True
) -> dict[str, Any]:
    if base_ref is None:
        compiled = compile_graph(root, env, use_cache=use_cache)
        chosen = select(compiled.graph, selector)
        result = hypothetical(compiled.graph, chosen)
        changed = sorted(chosen)
    else:
        planned = make_plan(root, env, base_ref=base_ref, allow_breaking=True, use_cache=use_cache)
        graph = planned.head.graph
        modified = {NodeId.parse(c.id) for c in planned.plan.changes}
        chosen = select(graph, selector, modified)
        real = set(planned.diff.changes) & chosen
        result = compute(graph, Diff({n: c for n, c in planned.diff.changes.items() if n in real}))
        changed = sorted(real)
    return {
        "changed": [str(n) for n in changed],
        "impact": [a.to_json() for a in result.affected.values() if a.id not in set(changed)],
    }
