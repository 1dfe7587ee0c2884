"""Renames through ``moved`` records (modelplane.yaml): the applied state seen under the new names, so a
renamed node's plan is an update of what was applied, and the nodes naming it are unchanged by it."""

from __future__ import annotations

from typing import Any

from modelplane.compiler.change.state import AppliedState
from modelplane.specs.base import NodeId


def effective_moves(state: AppliedState, moved: list[Any]) -> list[tuple[str, str]]:
    """The ``moved`` records (old id, new id) that rename something in this state: the state has the old
    id and not the new one, and the kind stays. Others (already applied, or never applied) change nothing."""
    out: list[tuple[str, str]] = []
    taken = set(state.nodes)
    for m in moved:
        if m.from_ in taken and m.to not in taken and m.from_.split("/")[0] == m.to.split("/")[0]:
            out.append((m.from_, m.to))
            taken.discard(m.from_)
            taken.add(m.to)
    return out


def moved_in(state: AppliedState, moves: list[tuple[str, str]]) -> AppliedState:
    """The applied state with each moved node under its new id (and name), and every applied reference to it
    naming the new one, so a renamed node's plan is an update of what was applied, not a delete and a create,
    and the nodes that name it (an endpoint's ``stack``, a workflow's ``outputs``) are not changed by it
    (``effective_moves`` picks the moves)."""
    if not moves:
        return state
    from dataclasses import replace

    renamed = {NodeId.parse(old): NodeId.parse(new) for old, new in moves}
    names_by_kind: dict[str, set[str]] = {}  # the names as applied: what the applied references resolve to
    for key in state.nodes:
        nid = NodeId.parse(key)
        names_by_kind.setdefault(nid.kind, set()).add(nid.name)
    nodes = {}
    for key, applied in state.nodes.items():
        data = _references_renamed(applied.kind, applied.data, renamed, names_by_kind)
        nid = NodeId.parse(key)
        if nid in renamed:
            key = str(renamed[nid])
            data = {**data, "metadata": {**data.get("metadata", {}), "name": renamed[nid].name}}
        nodes[key] = applied if data is applied.data else replace(applied, data=data)
    return replace(state, nodes=dict(sorted(nodes.items())))


def _references_renamed(
    kind: str, data: dict[str, Any], renamed: dict[NodeId, NodeId], names_by_kind: dict[str, set[str]]
) -> dict[str, Any]:
    """``data`` with each reference to a renamed node naming its new name, written as it was (``name`` or
    ``kind/name``); ``data`` itself when nothing in it names one."""
    import copy

    from modelplane.compiler.load.references import target_of
    from modelplane.specs.base import model_class
    from modelplane.specs.refs import find_refs, reference_paths

    try:
        paths = reference_paths(model_class(kind))
    except KeyError:
        return data
    out = data
    for found in find_refs(data, paths):
        target = target_of(found, names_by_kind)
        if target is None or target not in renamed:
            continue
        if out is data:
            out = copy.deepcopy(data)
        holder: Any = out
        for step in found.path[:-1]:
            holder = holder[step]
        written = found.value
        holder[found.path[-1]] = str(renamed[target]) if "/" in written else renamed[target].name
    return out
