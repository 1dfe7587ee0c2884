"""What the language server answers, from a ``LiveProject``: plain data (files, 1-based lines and
columns), so the protocol layer (``server``) only converts it. Positions are 1-based throughout."""

from __future__ import annotations

import time

from modelplane.compiler.incremental.live import LiveProject, Ref, word_at
from modelplane.specs.base import KIND_ORDER, NodeId

Span = tuple[str, int, int, int]
"""(file, line, column, width)."""


def target_at(lp: LiveProject, path: str, line: int, column: int) -> NodeId | None:
    """The node named at a position: the reference written there, or the node whose ``metadata.name`` it is."""
    ref = lp.ref_at(path, line, column)
    if ref is not None:
        return ref.target
    node = lp.node_at(path, line)
    if node is None:
        return None
    loc, _, width = lp.locate(node, ("metadata", "name"))
    if loc.line == line and loc.column <= column <= loc.column + width:
        return node.id
    return None


def definition(lp: LiveProject, path: str, line: int, column: int) -> Span | None:
    target = target_at(lp, path, line, column)
    node = lp.definition(target) if target else None
    if node is None:
        return None
    loc, _, width = lp.locate(node, ("metadata", "name"))
    return (node.file, loc.line, loc.column, width)


def _ref_span(lp: LiveProject, r: Ref) -> Span:
    node = next(n for n in lp.by_id[r.node] if r in lp.refs.get(n.id, ()))
    loc, _, width = lp.locate(node, r.found.path)
    return (node.file, loc.line, loc.column, width)


def references(lp: LiveProject, path: str, line: int, column: int, include_declaration: bool = True) -> list[Span]:
    target = target_at(lp, path, line, column)
    if target is None:
        return []
    out = [_ref_span(lp, r) for r in lp.references_to(target)]
    if include_declaration:
        found = definition_of(lp, target)
        if found is not None:
            out.insert(0, found)
    return out


def definition_of(lp: LiveProject, target: NodeId) -> Span | None:
    node = lp.definition(target)
    if node is None:
        return None
    loc, _, width = lp.locate(node, ("metadata", "name"))
    return (node.file, loc.line, loc.column, width)


def hover(lp: LiveProject, path: str, line: int, column: int) -> str | None:
    """Markdown: the node's kind, owner, applied version and what a change to it would affect, by category."""
    target = target_at(lp, path, line, column)
    if target is None:
        return None
    node = lp.definition(target)
    if node is None:
        return f"no {target.kind} named `{target.name}`"
    lines = [f"**{node.kind}** `{node.name}`"]
    try:
        lines.append(f"owner: `{node.owner}`")
        desc = node.data["metadata"].get("description")
        if desc:
            lines.append(str(desc))
    except (KeyError, TypeError):
        pass
    applied = _applied(lp).get(str(node.id))
    lines.append(f"applied: {applied}" if applied else "applied: not yet (no state records it)")
    lines.append(_impact_line(lp, node.id))
    return "\n\n".join(lines)


def _impact_line(lp: LiveProject, nid: NodeId) -> str:
    from modelplane.compiler.change.whatif import hypothetical

    graph = lp.graph()
    if nid not in graph:
        return "downstream: unknown until the document is valid"
    impact = hypothetical(graph, {nid})
    counts: dict[str, int] = {}
    for a in impact.affected.values():
        if a.id != nid:
            counts[a.category] = counts.get(a.category, 0) + 1
    if not counts:
        return "downstream: nothing"
    return "downstream if it changes: " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))


_APPLIED_CACHE: dict[str, tuple[float, int, dict[str, str]]] = {}
"""Per project and environment: when the state's serial was last read, that serial, and what it said."""
RECHECK_S = 1.0
"""How long an answer about the applied state is trusted before the state's serial is read again: an
apply (every record bumps the serial) shows in hover and rename within this long, and a burst of
requests costs one cheap query, not one reading of the whole state each."""


def _applied(lp: LiveProject) -> dict[str, str]:
    """``kind/name`` -> a line about the applied version, from the environment's state store (if any)."""
    key = f"{lp.root}\0{lp.environment}"
    now = time.monotonic()
    cached = _APPLIED_CACHE.get(key)
    if cached is not None and now - cached[0] < RECHECK_S:
        return cached[2]
    serial, read = _read_applied(lp, None if cached is None else cached[1])
    out = cached[2] if read is None and cached is not None else (read or {})
    _APPLIED_CACHE[key] = (now, serial, out)
    return out


def _read_applied(lp: LiveProject, known_serial: int | None) -> tuple[int, dict[str, str] | None]:
    """The state's serial, and what it has applied (None: unchanged since ``known_serial``)."""
    try:
        from modelplane.workspace import Workspace

        store = Workspace(lp.root, lp.environment).applied_state()
        if store is None:
            return 0, {}
        try:
            serial = store.serial(lp.environment)
            if serial == known_serial:
                return serial, None
            state = store.applied(lp.environment)
        finally:
            store.close()
    except Exception:  # a state store this build cannot read: hover says "not yet"
        return -1, {}
    out = {}
    for nid, applied in state.nodes.items():
        spec = applied.data.get("spec") if isinstance(applied.data, dict) else None
        version = spec.get("version") if isinstance(spec, dict) else None
        out[nid] = f"yes, version {version}" if version else "yes"
    return state.serial, out


def applied_ids(lp: LiveProject) -> set[str]:
    return set(_applied(lp))


def completions(lp: LiveProject, path: str, line: int, line_text: str, character: int) -> list[tuple[str, str, str]]:
    """(label, "ref"/"kind"/"column", detail) for the value being typed on this line."""
    key = line_text.strip().split(":", 1)[0].lstrip("- ").strip()
    if key == "kind":
        return [(k, "kind", "kind") for k in KIND_ORDER]
    node = lp.node_at(path, line)
    kinds = _kinds_for_key(lp, node.kind if node else None, key)
    if key in ("columns", "name") or "columns" in line_text:
        cols = _columns_in_reach(lp, node.id) if node else []
        if cols:
            return [(c, "column", f"column of {src}") for c, src in cols]
    out: list[tuple[str, str, str]] = []
    for kind in kinds:
        for nid in lp.by_id:
            if nid.kind == kind.lower():
                out.append((nid.name, "ref", kind))
    return sorted(out)


def _kinds_for_key(lp: LiveProject, kind: str | None, key: str) -> list[str]:
    from modelplane.specs.kinds.union import KIND_MODELS
    from modelplane.specs.refs import reference_paths

    if kind is None or kind not in KIND_MODELS:
        return list(KIND_ORDER)
    found: list[str] = []
    for path, ref in reference_paths(KIND_MODELS[kind]):
        if (path and str(path[-1]) == key) or (len(path) > 1 and str(path[-2]) == key):
            found.extend(k for k in ref.kinds if k not in found)
    return found or list(KIND_ORDER)


def _columns_in_reach(lp: LiveProject, nid: NodeId) -> list[tuple[str, str]]:
    """Columns of the datasets and features a node reads (what a column reference may name)."""
    out: list[tuple[str, str]] = []
    for r in lp.refs.get(nid, ()):
        if r.target is None or r.found.ref.direction != "upstream":
            continue
        src = lp.definition(r.target)
        try:
            cols = src.data["spec"]["schema"]["columns"] if src else []
        except (KeyError, TypeError):
            cols = []
        out.extend((c["name"], str(r.target)) for c in cols if isinstance(c, dict) and "name" in c)
    return out


def rename(
    lp: LiveProject, path: str, line: int, column: int, new_name: str, applied: set[str] | None = None
) -> list[tuple[str, int, int, int, str]] | None:
    """Text edits (file, line, column, width, new text) renaming the node at the position everywhere it is
    named, across files and kinds; for a node the state has applied, a ``moved`` record in modelplane.yaml
    too, so the next plan updates it in place instead of deleting and creating it."""
    target = target_at(lp, path, line, column)
    node = lp.definition(target) if target else None
    if target is None or node is None:
        return None
    edits = []
    loc, _, width = lp.locate(node, ("metadata", "name"))
    edits.append((node.file, loc.line, loc.column, width, new_name))
    for r in lp.references_to(target):
        file, rline, rcol, rwidth = _ref_span(lp, r)
        written = lp.text_of(file).splitlines()[rline - 1][rcol - 1 : rcol - 1 + rwidth]
        at = written.rfind(target.name)
        if at < 0:
            continue
        edits.append((file, rline, rcol + at, len(target.name), new_name))
    if applied is not None and str(target) in applied:
        edits.append(_moved_edit(lp, target, new_name))
    return edits


def _moved_edit(lp: LiveProject, old: NodeId, new_name: str) -> tuple[str, int, int, int, str]:
    """Append ``moved: [{from: kind/old, to: kind/new}]`` (or one more entry) to modelplane.yaml."""
    from modelplane.specs.project import PROJECT_FILE

    text = (lp.root / PROJECT_FILE).read_text()
    lines = text.splitlines()
    entry = f"  - {{from: {old}, to: {old.kind}/{new_name}}}"
    has_moved = any(line.startswith("moved:") for line in lines)
    if has_moved:
        at = next(i for i, line in enumerate(lines) if line.startswith("moved:"))
        return (PROJECT_FILE, at + 2, 1, 0, entry + "\n")
    end = len(lines) + 1
    prefix = "" if text.endswith("\n") or not text else "\n"
    return (PROJECT_FILE, end, 1, 0, f"{prefix}moved:\n{entry}\n")


def symbols(lp: LiveProject, path: str) -> list[tuple[str, str, tuple[int, int, int]]]:
    """(name, kind, (line, column, end line)) of each node defined in a file."""
    f = lp.files.get(path)
    if f is None:
        return []
    lp.text_of(path)
    sm = f.source_map()
    out = []
    total = len(f.text.splitlines()) + 1
    starts = [sm.document_start(n.index)[0] for n in f.nodes]
    for i, node in enumerate(f.nodes):
        loc, _, _ = lp.locate(node, ("metadata", "name"))
        end = starts[i + 1] if i + 1 < len(starts) else total
        out.append((node.name, node.kind, (loc.line, loc.column, max(end, loc.line))))
    return out


def word(line_text: str, character: int) -> str:
    return word_at(line_text, character)[0]
