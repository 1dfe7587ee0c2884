"""Resolving typed references between nodes (``spec.model: x`` must name a Model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import NamedTuple

from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.compiler.timings import timed
from modelplane.errors import Diagnostic, did_you_mean, format_path
from modelplane.specs.base import NodeId
from modelplane.specs.refs import FoundRef, RefTo, find_refs, find_refs_in_model, reference_paths

Names = Mapping[str, Mapping[str, NodeId] | AbstractSet[str]]
"""Each kind's node names: as a set, or mapped to their nodes' own ids (``_target`` then returns those)."""


class Link(NamedTuple):
    """A resolved reference: ``node`` refers to ``target`` through the field at ``path`` (a tuple: built per reference)."""

    node: NodeId
    target: NodeId
    edge: str
    upstream: bool
    """True when data flows from ``target`` into ``node``."""
    path: tuple[str | int, ...]


def node_refs(node: SpecNode) -> list[FoundRef]:
    """The references a node makes: as a forked child found them, or from its model where it is built (a cold
    compile: its document need not be parsed back from JSON), else from its document."""
    from modelplane.specs.kinds.registry import get

    if node.refs is not None:
        return node.refs
    if node.has_model:
        return find_refs_in_model(node.model)
    return find_refs(node.data, reference_paths(get(node.kind).model))


@timed("resolve")
def resolve(
    specs: SpecSet,
    partial: Sequence[SpecNode] = (),
    unknown: frozenset[str] = frozenset(),
    *,
    describe: bool = True,
) -> tuple[list[Link], list[Diagnostic]]:
    """Every reference of every node, resolved; diagnostics for the ones that dangle.

    ``partial`` are documents that failed validation: their references are
    checked too, so one run reports a typo'd field and a typo'd name together,
    and a reference to one of them is sound (the node is there, only invalid).
    ``unknown``: words of files that could not be parsed at all; a name among them
    may be defined there, so a reference to it is not reported (a cascade).
    ``describe=False``: a reference that dangles is only left out, never reported nor located in its file
    (an applied state's documents: their files may be gone, and a dangling edge there is expected).
    """
    # each name mapped to its node's own id: an edge then holds the very NodeId its node is keyed by, and every
    # later lookup of it (indexing the graph, sorting it, caching it, fingerprints) finds it by identity instead of
    # comparing the strings of an equal tuple made per reference (~0.5 µs a lookup of a cold 10,000-node plan)
    names_by_kind: dict[str, dict[str, NodeId]] = {}
    for nid in [*specs.nodes, *(p.id for p in partial)]:
        names_by_kind.setdefault(nid.kind, {}).setdefault(nid.name, nid)
    links: list[Link] = []
    problems: list[Diagnostic] = []
    new = tuple.__new__  # a Link made in C (a NamedTuple's own __new__ is a Python function): one per reference
    for node in [*specs.nodes.values(), *partial]:
        for found in node_refs(node):
            if "${" in found.value:
                continue  # an unresolved variable, reported by interpolation
            target, problem = _target(found, names_by_kind)
            if target is not None:
                links.append(
                    new(Link, (node.id, target, found.ref.edge, found.ref.direction == "upstream", found.path))
                )
            elif not describe:
                continue
            elif problem is not None and (problem.code != "dangling-reference" or _name(found) not in unknown):
                location, snippet, width = specs.locate(node, found.path)
                problems.append(Diagnostic(problem.code, problem.message, location, problem.hint, snippet, width))
    return links, problems


def _name(found: FoundRef) -> str:
    return found.value.rpartition("/")[2]


def target_of(found: FoundRef, names_by_kind: Names) -> NodeId | None:
    """The node a reference names, given the names of each kind; None if it names none."""
    return _target(found, names_by_kind)[0]


class _Problem(NamedTuple):
    message: str
    hint: str | None
    code: str


def _target(found: FoundRef, names: Names) -> tuple[NodeId | None, _Problem | None]:
    """The node ``found`` names, given each kind's names (a map of them to their ids gives the id itself), or
    why it names none."""
    ref: RefTo = found.ref
    if ref.qualified:
        kind, slash, name = found.value.partition("/")
        if not slash:
            return None, None  # a bare name where the kind must be written: validation reported it
        if kind not in ref.kinds:
            field = format_path(found.path)
            accepted = ", ".join(ref.kinds)
            return None, _Problem(
                f"{field}: `{found.value}` is a {kind}, but {field} can only name: {accepted}",
                f"reference one of: {accepted}",
                code="wrong-kind-reference",
            )
        kinds: tuple[str, ...] = (kind,)
    else:
        # a document that failed validation is as written: `model/chat` where the field names a model
        kind, slash, name = found.value.partition("/")
        if not slash:
            name = kind
        elif kind not in ref.kinds:
            return None, None  # names another kind: validation reported it
        kinds = ref.kinds
    for kind in kinds:
        known = names.get(kind, ())
        if isinstance(known, dict):  # (a dict: an ABC's isinstance is slower, and this runs per reference)
            nid = known.get(name)
            if nid is not None:
                return nid, None
        elif name in known:
            return tuple.__new__(NodeId, (kind, name)), None  # in C: one per reference
    field = format_path(found.path)
    wanted = " or ".join(kinds)
    others = sorted(k for k, ns in names.items() if name in ns and k not in kinds)
    if others:
        return None, _Problem(
            f"{field}: `{name}` is a {others[0]}, but {field} must name a {wanted}",
            did_you_mean(
                name,
                [n for k in kinds for n in names.get(k, ())],
                f"existing {wanted} names",
                see=f"`modelplane graph --select kind:{kinds[0]}` lists them",
            )
            or f"no {wanted} is defined: define one named `{name}`, or point {field} at an existing {wanted}",
            code="wrong-kind-reference",
        )
    candidates = [n for k in kinds for n in names.get(k, ())]
    return None, _Problem(
        f"{field}: no {wanted} named `{name}`",
        did_you_mean(
            name, candidates, f"existing {wanted} names", see=f"`modelplane graph --select kind:{kinds[0]}` lists them"
        )
        or f"define a {wanted} named `{name}`",
        code="dangling-reference",
    )
