"""Node selection in dbt's grammar.

name | kind/name | glob*           a node by name (glob patterns allowed)
kind:model  owner:team-x  label:tier=0  path:specs/ml/*  state:modified
+x   x+   +x+   2+x   x+1          ancestors / descendants (optionally to a depth)
a b                                 union (space separated)
a,b                                 intersection (comma separated)
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.errors import SelectorError, did_you_mean
from modelplane.specs.base import KIND_ORDER, NodeId

_ATOM = re.compile(r"^(?:(?P<up>\d*)\+)?(?P<body>[^+]+?)(?:\+(?P<down>\d*))?$")
METHODS = ("kind", "owner", "label", "path", "state", "name")


def select(graph: LineageGraph, expression: str, modified: Iterable[NodeId] | None = None) -> set[NodeId]:
    """Nodes matching ``expression``; ``modified`` feeds ``state:modified``."""
    result: set[NodeId] = set()
    terms = expression.split()
    if not terms:
        raise SelectorError("empty selector", hint="e.g. `model/grammar-llm+` or `kind:endpoint`")
    mod = set(modified) if modified is not None else None
    for term in terms:
        parts = [p for p in term.split(",") if p]
        sets = [_atom(graph, p, mod) for p in parts]
        result |= set.intersection(*sets) if sets else set()
    return result


def _atom(graph: LineageGraph, text: str, modified: set[NodeId] | None) -> set[NodeId]:
    m = _ATOM.match(text)
    if m is None:
        raise SelectorError(f"cannot parse selector `{text}`", hint="e.g. `+model/x`, `dataset/y+`, `kind:endpoint`")
    base = _method(graph, m.group("body"), modified)
    out = set(base)
    if m.group("up") is not None:
        out |= graph.upstream(base, int(m.group("up")) if m.group("up") else None)
    if m.group("down") is not None:
        out |= graph.downstream(base, int(m.group("down")) if m.group("down") else None)
    return out


def _method(graph: LineageGraph, body: str, modified: set[NodeId] | None) -> set[NodeId]:
    method, sep, value = body.partition(":")
    if not sep:
        return _by_name(graph, body)
    if method not in METHODS:
        raise SelectorError(f"unknown selector method `{method}:`", hint=did_you_mean(method, METHODS, "methods"))
    nodes = graph.nodes
    if method == "kind":
        kind = value.lower()
        if kind not in {k.lower() for k in KIND_ORDER}:
            raise SelectorError(
                f"unknown kind `{value}` in selector", hint=did_you_mean(kind, [k.lower() for k in KIND_ORDER])
            )
        return {n for n in nodes if n.kind == kind}
    if method == "owner":
        return {n for n, node in nodes.items() if fnmatch.fnmatchcase(node.owner, value)}
    if method == "label":
        key, eq, want = value.partition("=")
        return {
            n
            for n, node in nodes.items()
            if key in (labels := node.data["metadata"]["labels"]) and (not eq or str(labels[key]) == want)
        }
    if method == "path":
        return {n for n, node in nodes.items() if fnmatch.fnmatchcase(node.file, value) or node.file.startswith(value)}
    if method == "name":
        return _by_name(graph, value)
    if value != "modified":
        raise SelectorError(f"unknown state `{value}`", hint="use `state:modified`")
    if modified is None:
        raise SelectorError(
            "`state:modified` needs something to compare with",
            hint="pass --base REF, or run it where an applied state exists",
        )
    return set(modified) & set(nodes)


def _by_name(graph: LineageGraph, pattern: str) -> set[NodeId]:
    glob = any(c in pattern for c in "*?[")
    if "/" in pattern:
        kind, _, name = pattern.partition("/")
        if glob:
            found = {n for n in graph.nodes if n.kind == kind.lower() and fnmatch.fnmatchcase(n.name, name)}
        else:  # an exact id: a lookup, not a scan of every node
            exact = NodeId(kind.lower(), name)
            found = {exact} if exact in graph.nodes else set()
    else:
        found = {n for n in graph.nodes if (fnmatch.fnmatchcase(n.name, pattern) if glob else n.name == pattern)}
    if not found and not glob:
        raise SelectorError(
            f"no node matches `{pattern}`",
            hint=did_you_mean(pattern, [str(n) for n in graph.nodes] + [n.name for n in graph.nodes]),
        )
    return found
