"""References between nodes, declared on the fields that hold them.

A field typed ``Annotated[str, RefTo(...)]`` names another node. ``reference_paths``
turns a kind's model into a list of (path, RefTo) once, so the compiler can pull
references out of plain data (fast, cache friendly) and report each one at the
exact place it was written.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel

Direction = Literal["upstream", "downstream"]

ANY_INDEX = -1
"""Path element standing for every item of a list."""


@dataclass(frozen=True)
class RefTo:
    """Marks a string field as a reference to a node of one of ``kinds``.

    ``qualified`` references are written ``kind/name`` (a workflow's inputs can be
    datasets, features or models); plain ones are just the name.
    ``direction`` says which way data flows: ``upstream`` means the referenced node
    feeds this one (a feature reads a dataset), ``downstream`` that this node feeds
    the referenced one (a workflow outputs a model).
    """

    kinds: tuple[str, ...]
    edge: str
    direction: Direction = "upstream"
    qualified: bool = False


PathElem = str | int
RefPath = tuple[PathElem, ...]


class FoundRef(NamedTuple):
    """One reference found in a document: where, to what, and how it links."""

    path: tuple[PathElem, ...]
    value: str
    ref: RefTo


def _unwrap(tp: Any) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Yield (base type, annotated metadata) for every alternative of a type."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        for inner, inner_meta in _unwrap(base):
            yield inner, (*inner_meta, *meta)
        return
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            yield from _unwrap(arg)
        return
    yield tp, ()


def _walk(
    tp: Any, prefix: RefPath, attrs: RefPath, out: list[tuple[RefPath, RefPath, RefTo]], seen: frozenset[type]
) -> None:
    for base, meta in _unwrap(tp):
        for m in meta:
            if isinstance(m, RefTo):
                out.append((prefix, attrs, m))
        origin = get_origin(base)
        if origin in (list, tuple, set, frozenset):
            for arg in get_args(base):
                if arg is not Ellipsis:
                    _walk(arg, (*prefix, ANY_INDEX), (*attrs, ANY_INDEX), out, seen)
        elif isinstance(base, type) and issubclass(base, BaseModel) and base not in seen:
            for name, field in base.model_fields.items():
                ann: Any = field.annotation
                if field.metadata:
                    ann = typing.Annotated[(ann, *field.metadata)]
                _walk(ann, (*prefix, field.alias or name), (*attrs, name), out, seen | {base})


@cache
def _places(model: type[BaseModel]) -> tuple[tuple[RefPath, RefPath, RefTo], ...]:
    out: list[tuple[RefPath, RefPath, RefTo]] = []
    _walk(model, (), (), out, frozenset())
    # each member of a union carries its RefTo (the specs' fast-first unions): one place, once
    return tuple(dict.fromkeys(out))


@cache
def reference_paths(model: type[BaseModel]) -> tuple[tuple[RefPath, RefTo], ...]:
    """Every place in ``model``'s documents that can hold a reference."""
    return tuple((path, ref) for path, _, ref in _places(model))


@cache
def reference_attributes(model: type[BaseModel]) -> tuple[tuple[RefPath, RefPath, RefTo], ...]:
    """Every place that can hold a reference, as (document path, attribute path, RefTo)."""
    return _places(model)


def find_refs_in_model(model: BaseModel) -> list[FoundRef]:
    """``find_refs`` over a validated model instead of its plain data: the same references in
    the same order, without needing the document parsed (a cold compile has the models)."""
    return _model_reader(type(model))(model)


@cache
def _model_reader(model: type[BaseModel], plain: bool = False) -> Callable[[BaseModel], list[Any]]:
    """``model``'s references read by straight-line code made for its places: the walk ``find_refs`` takes over
    plain data, taken over attributes and unrolled (an attribute of a model, None otherwise; each item of a list or
    tuple at an ``ANY_INDEX``; a reference only where a text is reached). A cold compile reads every node's
    references, and the generic walk was ~5 µs a document, most of the resolve stage's own time. Made
    once per model class from ``reference_attributes``, out of its field names and nothing else. ``plain``: each
    reference as ``refs_as_plain`` gives it instead of a ``FoundRef``."""
    # a FoundRef made in C (``tuple.__new__``): a NamedTuple's own __new__ is a Python function, and a cold compile
    # makes one per reference (~16,000 at 10,000 nodes)
    names: dict[str, Any] = {"BaseModel": BaseModel, "FoundRef": FoundRef, "new": tuple.__new__}
    first_place: dict[RefTo, int] = {}  # places with equal RefTos read back alike (``refs_from_plain``)
    lines = ["def read(v0):", "    out = []"]
    for p, (path, attrs, ref) in enumerate(reference_attributes(model)):
        names[f"ref{p}"] = ref
        first_place.setdefault(ref, p)
        cur, indent, at = "v0", "    ", []
        for step, (key, attr) in enumerate(zip(path, attrs, strict=True)):
            nxt = f"v{p}_{step}"
            if attr == ANY_INDEX:
                lines += [
                    f"{indent}if isinstance({cur}, (list, tuple)):",
                    f"{indent}    for i{p}_{step}, {nxt} in enumerate({cur}):",
                ]
                at.append(f"i{p}_{step}")
                indent += "        "
            else:
                lines.append(
                    f"{indent}{nxt} = getattr({cur}, {attr!r}, None) if isinstance({cur}, BaseModel) else None"
                )
                at.append(repr(key))
            cur = nxt
        where = "(" + "".join(f"{a}, " for a in at) + ")"
        found = f"({where}, {cur}, {first_place[ref]})" if plain else f"new(FoundRef, ({where}, {cur}, ref{p}))"
        lines += [f"{indent}if isinstance({cur}, str):", f"{indent}    out.append({found})"]
    lines.append("    return out")
    exec("\n".join(lines), names)  # the code is made above from the model's field names alone
    reader: Callable[[BaseModel], list[Any]] = names["read"]
    return reader


def refs_as_plain(model: BaseModel) -> tuple[tuple[tuple[PathElem, ...], str, int], ...]:
    """``find_refs_in_model`` as plain values (``marshal`` can carry them): each reference's RefTo as the index of
    the first of the model's ``reference_attributes`` that has it; ``refs_from_plain`` turns them back."""
    return tuple(_model_reader(type(model), plain=True)(model))


def refs_from_plain(model: type[BaseModel], plain: tuple[tuple[tuple[PathElem, ...], str, int], ...]) -> list[FoundRef]:
    """The references ``refs_as_plain`` gave for a document of ``model``."""
    places = reference_attributes(model)
    new = tuple.__new__  # FoundRefs made in C, as ``_model_reader`` makes them
    return [new(FoundRef, (at, value, places[i][2])) for at, value, i in plain]


def find_refs(data: Any, paths: tuple[tuple[RefPath, RefTo], ...]) -> list[FoundRef]:
    """Pull every reference out of a document's plain data, in declaration order."""
    return [
        FoundRef(at, value, ref)
        for path, ref in paths
        for at, value in _reach(data, path, path, _key)
        if isinstance(value, str)
    ]


def _key(node: Any, head: PathElem) -> Any:
    return node.get(head) if isinstance(node, dict) else None


def _reach(
    root: Any, path: RefPath, heads: RefPath, child: Callable[[Any, PathElem], Any]
) -> list[tuple[RefPath, Any]]:
    """Follow ``heads`` (attribute names or keys, ``child`` takes one step) from ``root``, fanning
    out over every item at an ``ANY_INDEX``; returns each place reached as (document path, value).

    ``path`` is the same walk as the document spells it. Iterative and allocation-light: it runs
    for every node on every compile, and most paths name one place (no frontier is built).
    """
    if ANY_INDEX not in heads:
        node = root
        for head in heads:
            node = child(node, head)
            if node is None:
                return []
        return [(path, node)]
    frontier: list[tuple[RefPath, Any]] = [((), root)]
    for key, head in zip(path, heads, strict=True):
        nxt: list[tuple[RefPath, Any]] = []
        for at, node in frontier:
            if head == ANY_INDEX:
                if isinstance(node, list | tuple):
                    nxt.extend(((*at, i), item) for i, item in enumerate(node))
            elif (value := child(node, head)) is not None:
                nxt.append(((*at, key), value))
        frontier = nxt
        if not frontier:
            break
    return frontier
