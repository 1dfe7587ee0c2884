"""What the spec models say about a document's shape: the canonical key order of each mapping and the
canonical spelling of each value, read from the pydantic models (nothing here is written twice).

The key order is the order of a model's fields (``apiVersion``, ``kind``, ``metadata``, ``spec``; inside
``spec`` the order its model declares), plain settings before blocks (``key_order``). The canonical spelling of a value is what the field's own
validator makes of it (``90m`` -> ``1h30m``, ``type: varchar`` -> ``string``, ``model: model/chat`` ->
``chat``, ``l4`` -> ``L4``, ``version: 7`` -> ``"7"``, a command string -> its list of arguments), so a
formatted document normalizes to exactly what the unformatted one did.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class Shape:
    """Where a value's keys come from: a model (its fields), or a list or map of such values."""

    model: type[BaseModel] | None = None
    items: Shape | None = None
    """A list's (or a map's values') shape."""
    mapping: bool = False
    """``items`` are a free-form map's values (``dict[str, Model]``) rather than a list's."""


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def shape_of(tp: Any) -> Shape | None:
    """The structured shape of an annotation, or None for a value that is a leaf (a scalar, or a list or map
    of scalars) whose spelling the field's validator decides as a whole."""
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        shapes = [s for a in get_args(tp) if a is not type(None) and (s := shape_of(a)) is not None]
        return shapes[0] if len(shapes) == 1 else None  # a union of models: no single order to follow
    if origin in (list, tuple):
        args = get_args(tp)
        inner = shape_of(args[0]) if args else None
        return Shape(items=inner) if inner is not None else None
    if origin is dict:
        inner = shape_of(get_args(tp)[1])
        return Shape(items=inner, mapping=True) if inner is not None else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return Shape(model=tp)
    return None


@cache
def fields(model: type[BaseModel]) -> dict[str, tuple[str, FieldInfo]]:
    """A model's fields by every key a document may write them with (alias and name, as
    ``populate_by_name`` reads them): (the canonical key, the field), in declaration order."""
    out: dict[str, tuple[str, FieldInfo]] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        out.setdefault(key, (key, info))
        out.setdefault(name, (key, info))
    return out


@cache
def key_order(model: type[BaseModel]) -> list[str]:
    """The canonical keys of a model: its plain settings first (text, numbers, lists of names), then its
    blocks (nested mappings, lists of mappings), each group in declaration order, as the examples write
    them (``uri``, ``format``, ``freshness`` before a dataset's ``schema``)."""
    leaves: list[str] = []
    blocks: list[str] = []
    for key, info in fields(model).values():
        if key not in leaves and key not in blocks:
            (leaves if shape_of(info.annotation) is None else blocks).append(key)
    return leaves + blocks


@cache
def _adapter(info: FieldInfo) -> TypeAdapter[Any]:
    # the field's annotation with its own constraints and validators (the FieldInfo carries them)
    annotation: Any = info.annotation if not info.metadata else Annotated[info.annotation, *info.metadata]
    return TypeAdapter(annotation)


class NotValid(Exception):
    """The value does not validate as the field: it stays as written (validate reports it)."""


def canonical(info: FieldInfo, value: Any) -> Any:
    """The canonical (JSON) form of ``value`` as the field ``info`` reads it; ``NotValid`` if it does not."""
    adapter = _adapter(info)
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json", by_alias=True)
    except (ValidationError, ValueError, TypeError) as exc:
        raise NotValid(str(exc)) from None


def is_text_field(info: FieldInfo) -> bool:
    """Whether a float written for this field may be read as the text the file wrote (``version: 1.5``),
    as the loader does (``compiler.load.validate.floats_as_written``): text fields refuse floats themselves."""
    try:
        canonical(info, "1.5")
    except NotValid:
        return False
    try:
        canonical(info, 1.5)
    except NotValid:
        return True
    return False
