"""Turning pydantic validation errors into diagnostics users can act on.

Pydantic reports locations as model paths that also contain union-member tags
(``constrained-str``, ``literal['manual']``); they are mapped back onto the
document's data so each problem points at the exact key or value in the file,
with a hint: the closest field name, the accepted values, the naming rule.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

from modelplane.compiler.errors import Diagnostic, did_you_mean, format_path
from modelplane.compiler.positions import SourceMap
from modelplane.specs.base import BOOL_SPELLINGS_HINT, NAME_PATTERN
from modelplane.specs.common import COLUMN_TYPE_PATTERN, DURATION_PATTERN, QUALIFIED_REF_PATTERN
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

DataPath = tuple[str | int, ...]


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[DataPath, str | int | None]:
    """The part of ``loc`` that exists in ``data``, and the first step that does not."""
    path: list[str | int] = []
    node: Any = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(node, (dict, list)):
            return tuple(path), part
        # else: a union-member tag such as 'constrained-str'; skip it
    return tuple(path), None


def _models_in(tp: Any) -> Iterator[type[BaseModel]]:
    origin = get_origin(tp)
    if origin is typing.Annotated:
        yield from _models_in(get_args(tp)[0])
    elif origin in (Union, types.UnionType, list, tuple, set, frozenset):
        for arg in get_args(tp):
            yield from _models_in(arg)
    elif origin is dict:
        yield from _models_in(get_args(tp)[1])
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp


def fields_at(model: type[BaseModel], path: DataPath) -> list[str]:
    """Field names (as written in YAML) allowed at ``path`` inside ``model``'s documents."""
    current: list[type[BaseModel]] = [model]
    for part in path:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for m in current:
            for name, f in m.model_fields.items():
                if (f.alias or name) == part:
                    nxt.extend(_models_in(f.annotation))
        if not nxt:
            # dict values (labels, overrides): the key was data, stay at the same models
            continue
        current = nxt
    return sorted({(f.alias or n) for m in current for n, f in m.model_fields.items()})


def _pattern_message(value: Any, pattern: str) -> tuple[str, str | None]:
    if pattern == NAME_PATTERN:
        return (
            f"`{value}` is not a valid name",
            "names use lower-case letters, digits and `-`, start with a letter or digit, and are at most 63 long",
        )
    if pattern == DURATION_PATTERN:
        return f"`{value}` is not a duration", "write a number and a unit: 500ms, 30s, 10m, 2h or 1d"
    if pattern == COLUMN_TYPE_PATTERN:
        return (
            f"unknown column type `{value}`",
            "use string, bool, int32, int64, float32, float64, date, timestamp, bytes, json, "
            "decimal(p,s), array<T>, map<K,V> or struct<...>",
        )
    if pattern == QUALIFIED_REF_PATTERN:
        return f"`{value}` is not a `kind/name` reference", "write the kind in lower case, e.g. `dataset/events-raw`"
    return f"`{value}` does not match the pattern {pattern}", None


def _describe(
    err: ErrorDetails, model: type[BaseModel], path: DataPath, missing: str | int | None
) -> tuple[str, str | None, bool]:
    """(message, hint, point-at-key) for one pydantic error."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    where = format_path(path) or "document"
    if kind == "extra_forbidden":
        field = str(path[-1])
        allowed = fields_at(model, path[:-1])
        parent = format_path(path[:-1]) or "the document"
        return f"unknown field `{field}` in {parent}", did_you_mean(field, allowed, "allowed fields"), True
    if kind == "missing":
        return f"missing required field `{missing}` in {where}", f"add `{missing}:` to {where}", True
    if kind == "union_tag_invalid":
        from modelplane.specs.kinds import KINDS

        return f"unknown kind `{ctx.get('tag')}`", did_you_mean(str(ctx.get("tag")), KINDS, "known kinds"), False
    if kind == "union_tag_not_found":
        return (
            "missing `kind`",
            "add `kind:` with one of Dataset, Feature, Workflow, Model, Evaluation, Endpoint, Service, Stack",
            True,
        )
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        hint = did_you_mean(str(value), options) if isinstance(value, str) else None
        if path and path[-1] == "apiVersion":
            return f"unsupported apiVersion `{value}`", "use `apiVersion: modelplane/v1`", False
        return f"{where}: expected {expected}, got `{value}`", hint, False
    if kind == "string_pattern_mismatch":
        msg, hint = _pattern_message(value, str(ctx.get("pattern", "")))
        return f"{where}: {msg}", hint, False
    if kind == "string_type" and isinstance(value, (int, float, bool)):
        return (
            f"{where}: expected text, got the {type(value).__name__} `{value}`",
            'quote the value so YAML reads it as text, e.g. "1.10"',
            False,
        )
    if kind == "bool_spelling":
        shown = f"the {type(value).__name__} `{value}`" if not isinstance(value, str) else f"`{value}`"
        return f"{where}: expected true or false, got {shown}", BOOL_SPELLINGS_HINT, False
    if kind == "finite_number":
        return f"{where}: expected a finite number, got `{value}`", "write a number such as 0.5 or 100", False
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}: expected a mapping, got `{value}`", None, False
    if kind == "list_type":
        return f"{where}: expected a list, got `{value}`", "write items as `- item` lines or `[a, b]`", False
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{where}: {msg}", None, False


def diagnostics_for(
    exc: ValidationError,
    data: Any,
    model: type[BaseModel],
    source: SourceMap,
    index: int,
    strip_tag: bool,
    skip_paths: set[DataPath] | None = None,
) -> list[Diagnostic]:
    """Diagnostics for every error in ``exc``, one per place in the document."""
    out: list[Diagnostic] = []
    seen: set[tuple[object, ...]] = set()
    for err in exc.errors():
        loc = (
            err["loc"][1:]
            if strip_tag and err["type"] not in ("union_tag_invalid", "union_tag_not_found")
            else err["loc"]
        )
        if err["type"] == "union_tag_invalid":
            loc = ("kind",)
        path, missing = _data_path(data, tuple(loc))
        if err["type"] == "missing" and missing is None and loc:
            missing = loc[-1]
        key: tuple[object, ...] = (*path, "::missing", missing) if err["type"] == "missing" else path
        if key in seen or (skip_paths and path in skip_paths):
            continue
        seen.add(key)
        message, hint, at_key = _describe(err, model, path, missing)
        location, snippet, width = source.location(index, path, key=at_key)
        out.append(
            Diagnostic(
                code=_code(err["type"], path),
                message=message,
                location=location,
                hint=hint,
                snippet=snippet,
                width=width,
            )
        )
    return out


PYDANTIC_ERROR_CODES = {
    "extra_forbidden": "unknown-field",
    "missing": "missing-field",
    "union_tag_invalid": "unknown-kind",
    "union_tag_not_found": "missing-kind",
}
"""Diagnostic code of a pydantic error type; every other type is ``OTHER_ERROR_CODE``."""
OTHER_ERROR_CODE = "invalid-value"


def _code(kind: str, path: DataPath) -> str:
    if path and path[-1] == "apiVersion":
        return "unsupported-api-version"
    return PYDANTIC_ERROR_CODES.get(kind, OTHER_ERROR_CODE)
