"""Node selection in dbt's grammar (see docs/plans.md for a table of what matches dbt and what differs).

name | kind/name | glob*           a node by name (glob patterns allowed)
kind:model  owner:team-x  label:tier=0  path:specs/ml  state:modified   methods
resource_type:model  tag:tier=0                                         dbt's names for kind: and label:
state:new  state:modified.body|configs|contract|persisted_descriptions|relation
+x   x+   +x+   2+x   x+1          ancestors / descendants (optionally to a depth)
@x                                  x, its descendants and every ancestor of those
a b                                 union (space separated)
a,b                                 intersection (comma separated)
--exclude E                         what E selects is taken out (``selection(..., exclude=E)``)

A part that matches nothing is an error naming it (a typo must not select nothing and
exit 0), except ``state:`` parts, where nothing changed is a legitimate answer: that is
a warning in ``Selection.warnings``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.errors import SelectorError, did_you_mean
from modelplane.specs.base import NodeId
from modelplane.specs.kinds import registry

_ATOM = re.compile(r"^(?P<at>@)?(?:(?P<up>\d*)\+)?(?P<body>[^+@]+?)(?:\+(?P<down>\d*))?$")
METHODS = ("kind", "resource_type", "owner", "label", "tag", "path", "state", "name")
ALIASES = {"resource_type": "kind", "tag": "label"}
"""dbt's method names that mean one of ours."""


def _kinds() -> tuple[str, ...]:
    """Every registered kind as selectors write it (``dataset``), a kind registered after start-up too."""
    return tuple(k.lower() for k in registry.names())


STATE_PARTS: dict[str, tuple[str, ...]] = {
    # dbt's state:modified.<part>, as it fits a spec: the field paths (prefixes) whose change counts
    "body": ("spec",),
    "configs": ("metadata.owner", "metadata.labels"),
    "contract": ("spec.schema", "spec.columns"),
    "persisted_descriptions": ("metadata.description", "spec.schema.columns", "spec.columns"),
    "relation": ("spec.uri", "spec.format", "spec.artifact", "spec.stack"),
}
_EXAMPLE = "e.g. `model/tiny-chat+`, `kind:endpoint`, `@dataset/raw`, `path:specs/ml`"


class FieldLike(Protocol):
    @property
    def path(self) -> str: ...


class ChangeLike(Protocol):
    """What a selector reads of a diff's change (``compiler.change.diff.Change``)."""

    @property
    def change(self) -> str: ...
    @property
    def fields(self) -> Sequence[FieldLike]: ...


Modified = Mapping[NodeId, ChangeLike | None] | Iterable[NodeId]
"""What ``state:`` compares with: the changed nodes, with their changes where known."""


@dataclass
class Selection:
    """The nodes a selector picked, and a warning for each part of it that picked nothing where that is no error
    (``state:modified`` with nothing modified)."""

    nodes: set[NodeId]
    warnings: list[str] = field(default_factory=list)


def select(
    graph: LineageGraph, expression: str, modified: Modified | None = None, exclude: str | None = None
) -> set[NodeId]:
    """Nodes matching ``expression`` less those ``exclude`` matches; ``modified`` feeds ``state:``.
    Callers that can show warnings use ``selection``."""
    return selection(graph, expression, modified, exclude).nodes


def selection(
    graph: LineageGraph, expression: str | None, modified: Modified | None = None, exclude: str | None = None
) -> Selection:
    """``expression`` (None: every node) less what ``exclude`` selects, with warnings."""
    mod: dict[NodeId, ChangeLike | None] | None = None
    if modified is not None:
        mod = dict(modified) if isinstance(modified, Mapping) else dict.fromkeys(modified)
    warnings: list[str] = []
    everything = expression is None
    chosen = set(graph.nodes) if everything else _expression(graph, expression or "", mod, warnings, "selector")
    if exclude is not None:
        removed = _expression(graph, exclude, mod, warnings, "--exclude")
        before = bool(chosen)
        chosen -= removed
        if before and not chosen:
            warnings.append(f"--exclude `{exclude}` removes every node the selection picked: nothing is selected")
    return Selection(chosen, warnings)


def _expression(
    graph: LineageGraph, expression: str, mod: dict[NodeId, ChangeLike | None] | None, warnings: list[str], what: str
) -> set[NodeId]:
    terms = expression.split()
    if not terms:
        raise SelectorError(f"empty {what}: it would select nothing", hint=_EXAMPLE)
    result: set[NodeId] = set()
    for term in terms:
        parts = term.split(",")
        if any(not p for p in parts):
            raise SelectorError(
                f"`{term}` has an empty part around a comma", hint="a,b selects what both a and b select"
            )
        sets = [_atom(graph, p, mod, warnings) for p in parts]
        both = set.intersection(*sets)
        if not both and all(sets):
            stateful = any(p.lstrip("@+0123456789").startswith("state:") for p in parts)
            message = f"`{term}`: each part matches nodes, but no node matches all of them"
            if not stateful:
                raise SelectorError(message, hint="a comma intersects; a space takes the union")
            warnings.append(message)
        result |= both
    return result


def _atom(
    graph: LineageGraph, text: str, mod: dict[NodeId, ChangeLike | None] | None, warnings: list[str]
) -> set[NodeId]:
    m = _ATOM.match(text)
    if m is None:
        raise SelectorError(f"cannot parse selector `{text}`", hint=_EXAMPLE)
    body = m.group("body")
    base = _method(graph, body, mod)
    if not base:
        if body.startswith("state:"):
            warnings.append(f"`{text}` matches no node: nothing is {body.removeprefix('state:')}")
        else:
            raise SelectorError(f"no node matches `{text}`", hint=_nothing_hint(graph, body))
    out = set(base)
    if m.group("at"):
        if m.group("down") is not None:
            raise SelectorError(
                f"`{text}`: `@` and a trailing `+` do not combine",
                hint="`@` already takes every descendant: drop the trailing `+` (dbt refuses it too)",
            )
        down = base | graph.downstream(base)
        return down | graph.upstream(down)
    if m.group("up") is not None:
        out |= graph.upstream(base, int(m.group("up")) if m.group("up") else None)
    if m.group("down") is not None:
        out |= graph.downstream(base, int(m.group("down")) if m.group("down") else None)
    return out


def _nothing_hint(graph: LineageGraph, body: str) -> str:
    method, sep, value = body.partition(":")
    if not sep:
        names = [str(n) for n in graph.nodes] + [n.name for n in graph.nodes]
        return did_you_mean(body, names) or "`modelplane graph` lists every node"
    method = ALIASES.get(method, method)
    if method == "owner":
        owners = sorted({n.owner for n in graph.nodes.values()})
        return did_you_mean(value, owners) or f"owners: {', '.join(owners)}"
    if method == "label":
        keys = sorted({k for n in graph.nodes.values() for k in n.data["metadata"]["labels"]})
        return did_you_mean(value.partition("=")[0], keys, "label keys") or f"label keys in use: {', '.join(keys)}"
    if method == "path":
        return "a path is a file or a folder relative to the project root (`path:specs/ml`); `*` stays in one folder"
    return f"`modelplane graph --select {method}:...` shows what a method matches"


def _method(graph: LineageGraph, body: str, mod: dict[NodeId, ChangeLike | None] | None) -> set[NodeId]:
    method, sep, value = body.partition(":")
    if not sep:
        return _by_name(graph, body)
    if method not in METHODS:
        raise SelectorError(f"unknown selector method `{method}:`", hint=did_you_mean(method, METHODS, "methods"))
    if not value:
        raise SelectorError(f"`{body}` has no value after the method", hint=_EXAMPLE)
    method = ALIASES.get(method, method)
    nodes = graph.nodes
    if method == "kind":
        kind = _kind(value)
        return {n for n in nodes if n.kind == kind}
    if method == "owner":
        return {n for n, node in nodes.items() if fnmatch.fnmatchcase(node.owner, value)}
    if method == "label":
        key, eq, want = value.partition("=")
        return {
            n
            for n, node in nodes.items()
            if any(
                fnmatch.fnmatchcase(k, key) and (not eq or fnmatch.fnmatchcase(str(v), want))
                for k, v in node.data["metadata"]["labels"].items()
            )
        }
    if method == "path":
        return {n for n, node in nodes.items() if path_matches(value, node.file)}
    if method == "name":
        return _by_name(graph, value)
    return _state(graph, value, mod)


def _kind(value: str) -> str:
    kind = value.lower()
    if kind not in _kinds():
        raise SelectorError(f"unknown kind `{value}` in selector", hint=did_you_mean(kind, _kinds(), "kinds"))
    return kind


def _state(graph: LineageGraph, value: str, mod: dict[NodeId, ChangeLike | None] | None) -> set[NodeId]:
    what, _, part = value.partition(".")
    if what not in ("modified", "new") or (what == "new" and part):
        raise SelectorError(
            f"unknown state `{value}`",
            hint=f"use `state:modified`, `state:new` or `state:modified.<part>` (parts: {', '.join(STATE_PARTS)})",
        )
    if part and part not in STATE_PARTS:
        raise SelectorError(
            f"unknown part `{part}` of state:modified",
            hint=(did_you_mean(part, list(STATE_PARTS), "parts") or f"parts: {', '.join(STATE_PARTS)}")
            + ("; dbt's `macros` has no counterpart in specs" if part == "macros" else ""),
        )
    if mod is None:
        raise SelectorError(
            f"`state:{value}` needs something to compare with",
            hint="pass --base REF, or run it where an applied state exists",
        )
    live = {n: c for n, c in mod.items() if n in graph.nodes and (c is None or c.change != "no-op")}
    if what == "new":
        return {n for n, c in live.items() if c is not None and c.change == "create"}
    if not part:
        return set(live)
    prefixes = STATE_PARTS[part]
    return {
        n
        for n, c in live.items()
        if c is not None and (c.change == "create" or any(_under(f.path, p) for f in c.fields for p in prefixes))
    }


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def path_matches(pattern: str, file: str) -> bool:
    """dbt's ``path:``: a file, or a folder holding it (whole path components: ``specs/da`` is not a
    prefix of ``specs/data.yaml``); with wildcards, a glob against the file or one of its folders where
    ``*`` and ``?`` stay within one folder and ``**`` crosses them."""
    pattern = _clean(pattern)
    if any(c in pattern for c in "*?["):
        rx = _glob_regex(pattern)
        parts = file.split("/")
        return any(rx.fullmatch("/".join(parts[:i])) for i in range(len(parts), 0, -1))
    return file == pattern or file.startswith(pattern + "/") or pattern == "."


def _clean(pattern: str) -> str:
    out: list[str] = []
    for part in pattern.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == ".." and out:
            out.pop()
        else:
            out.append(part)
    return "/".join(out) or "."


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := pattern.find("]", i + 1)) > i + 1:
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[0] == "!" else body).replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def _by_name(graph: LineageGraph, pattern: str) -> set[NodeId]:
    glob = any(c in pattern for c in "*?[")
    if "/" in pattern:
        kind_text, _, name = pattern.partition("/")
        if kind_text.lower() not in _kinds():
            hint = did_you_mean(kind_text.lower(), _kinds(), "kinds")
            raise SelectorError(
                f"unknown kind `{kind_text}` in `{pattern}`",
                hint=(hint + "; " if hint else "") + "a file path is `path:" + pattern + "`",
            )
        kind = kind_text.lower()
        if glob:
            return {n for n in graph.nodes if n.kind == kind and fnmatch.fnmatchcase(n.name, name)}
        exact = NodeId(kind, name)  # an exact id: a lookup, not a scan of every node
        return {exact} if exact in graph.nodes else set()
    return {n for n in graph.nodes if (fnmatch.fnmatchcase(n.name, pattern) if glob else n.name == pattern)}
