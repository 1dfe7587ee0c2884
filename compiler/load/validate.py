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
from functools import lru_cache
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from modelplane.compiler.source.positions import SourceMap
from modelplane.errors import Diagnostic, did_you_mean, format_path
from modelplane.specs.base import BOOL_SPELLINGS_HINT, NAME_PATTERN
from modelplane.specs.common import COLUMN_TYPE_PATTERN, DURATION_HINT, DURATION_PATTERN, QUALIFIED_REF_PATTERN

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


def floats_as_written(exc: ValidationError, doc: Any, source: SourceMap, index: int) -> Any | None:
    """A copy of ``doc`` in which every float a text field got (``number_as_text``) is replaced by the
    text the file wrote, where that text is exactly what the float prints (``1.5``), so nothing is lost;
    None when there is none such. A float that would lose digits (``1.10`` is 1.1) stays an error."""
    fixes: list[tuple[DataPath, str]] = []
    for err in exc.errors():
        if err["type"] != "number_as_text":
            continue
        path, missing = _data_path(doc, tuple(err["loc"][1:]))  # [0] is the kind's union tag
        if missing is not None or not path:
            continue
        loc, snippet, width = source.location(index, path)
        written = snippet[loc.column - 1 : loc.column - 1 + width] if snippet and loc.column else None
        if written is not None and written == repr(err["input"]):
            fixes.append((path, written))
    if not fixes:
        return None
    import copy

    fixed = copy.deepcopy(doc)
    for path, text in fixes:
        node = fixed
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = text
    return fixed


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


@lru_cache(maxsize=256)
def fields_at(model: type[BaseModel], path: DataPath) -> tuple[str, ...]:
    """Field names (as written in YAML) allowed at ``path`` inside ``model``'s documents (cached: a mapping of
    N unknown keys asks N times for the same parent)."""
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
    return tuple(sorted({(f.alias or n) for m in current for n, f in m.model_fields.items()}))


def field_at(model: type[BaseModel], path: DataPath) -> FieldInfo | None:
    """The field a value at ``path`` of ``model``'s documents belongs to (list items belong to their list's)."""
    current: list[type[BaseModel]] = [model]
    found: FieldInfo | None = None
    for part in path:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        hit = None
        for m in current:
            for name, f in m.model_fields.items():
                if (f.alias or name) == part:
                    hit = f
                    nxt.extend(_models_in(f.annotation))
        if hit is None:
            if found is not None and not nxt:
                continue  # a key inside a free-form map: still that map's field
            return None
        found = hit
        current = nxt
    return found


def field_hint(model: type[BaseModel], path: DataPath) -> str | None:
    """The hint a spec model gives for a wrong value of this field (``json_schema_extra={"hint": ...}``)."""
    info = field_at(model, path)
    extra = info.json_schema_extra if info is not None else None
    hint = extra.get("hint") if isinstance(extra, dict) else None
    return hint if isinstance(hint, str) else None


_BOUNDS = {
    "greater_than_equal": ("ge", "at least", "use {} or more"),
    "greater_than": ("gt", "more than", "use a value above {}"),
    "less_than_equal": ("le", "at most", "use {} or less"),
    "less_than": ("lt", "less than", "use a value below {}"),
}
_NUMBER_WORDS = {
    "int_from_float": "a whole number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_type": "true or false",
}


def _pattern_message(value: Any, pattern: str) -> tuple[str, str | None]:
    if pattern == NAME_PATTERN:
        return (
            f"`{value}` is not a valid name",
            "names use lower-case letters, digits and `-`, start with a letter or digit, and are at most 63 long",
        )
    if pattern == DURATION_PATTERN:
        return f"`{value}` is not a duration", DURATION_HINT
    if pattern == COLUMN_TYPE_PATTERN:
        return (
            f"unknown column type `{value}`",
            "use string, bool, int8, int16, int32, int64, float32, float64, date, timestamp, bytes, json, "
            "decimal(p,s), array<T>, map<K,V> or struct<...> (or int, float, double, varchar, text, boolean, "
            "datetime and the other common names, kept as these)",
        )
    if pattern == QUALIFIED_REF_PATTERN:
        return f"`{value}` is not a `kind/name` reference", "write the kind in lower case, e.g. `dataset/events-raw`"
    return f"`{value}` does not match the pattern {pattern}", f"write a value matching {pattern}"


def _qualified_hint(model: type[BaseModel], path: DataPath, value: object) -> str:
    """Where several kinds may be named, a bare name gets the spellings it could have meant."""
    from modelplane.specs.refs import reference_paths

    kinds: tuple[str, ...] = ()
    for ref_path, ref in reference_paths(model):
        if len(ref_path) == len(path) and all(a == b or a == -1 for a, b in zip(ref_path, path, strict=True)):
            kinds = ref.kinds
    if not kinds or not isinstance(value, str) or "/" in value:
        return "write the kind in lower case, e.g. `dataset/events-raw`"
    options = ", ".join(f"`{k}/{value}`" for k in kinds)
    return f"this field can name several kinds, so write which: {options}"


def _describe(
    err: ErrorDetails,
    model: type[BaseModel],
    path: DataPath,
    missing: str | int | None,
    source_text: str | None = None,
) -> tuple[str, str | None, bool]:
    """(message, hint, point-at-key) for one pydantic error; ``source_text``: the value as the file wrote it."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    where = format_path(path) or "document"
    if kind == "extra_forbidden":
        field = str(path[-1])
        allowed = fields_at(model, path[:-1])
        parent = format_path(path[:-1]) or "the document"
        return f"unknown field `{field}` in {parent}", did_you_mean(field, allowed, "allowed fields", shown=None), True
    if kind == "missing":
        return f"missing required field `{missing}` in {where}", f"add `{missing}:` to {where}", True
    if kind == "union_tag_invalid":
        from modelplane.specs.kinds.registry import names

        return (
            f"unknown kind `{ctx.get('tag')}`",
            did_you_mean(str(ctx.get("tag")), names(), "known kinds", shown=None),
            False,
        )
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
        pattern = str(ctx.get("pattern", ""))
        msg, hint = _pattern_message(value, pattern)
        if pattern == QUALIFIED_REF_PATTERN:
            hint = _qualified_hint(model, path, value)
        return f"{where}: {msg}", field_hint(model, path) or hint, False
    if kind == "number_as_text":
        written = source_text or str(value)
        return (
            f"{where}: YAML reads `{written}` as the number {value}, which would lose digits as text",
            f'quote it to keep it as written: "{written}"',
            False,
        )
    if kind == "duration_unit":
        return (
            f"{where}: `{value}` has no unit",
            f"write `{ctx.get('suggestion')}` for {value} seconds (units: ms, s, m, h, d, w)",
            False,
        )
    if kind == "duration":
        return f"{where}: `{value}` is not a duration", DURATION_HINT, False
    if kind == "wrong_kind":
        return (
            f"{where}: `{value}` names a {ctx.get('other')}, but this field can only name a {ctx.get('kind')}",
            f"name a {ctx.get('kind')} here (the name alone, or `{ctx.get('kind')}/<name>`)",
            False,
        )
    if kind == "command_split":
        return (
            f"{where}: cannot split `{value}` into arguments ({ctx.get('reason')})",
            "close the quote, or write the command as a list: [python3, train.py, --epochs, 2]",
            False,
        )
    if kind in _BOUNDS:
        key, words, fix = _BOUNDS[kind]
        bound = ctx.get(key)
        return (
            f"{where} must be {words} {bound}, got {_shown(value)}",
            field_hint(model, path) or fix.format(bound),
            False,
        )
    if kind in _NUMBER_WORDS:
        wanted = _NUMBER_WORDS[kind]
        example = f", e.g. {round(value)}" if kind == "int_from_float" and isinstance(value, float) else ""
        return (
            f"{where}: expected {wanted}, got {_shown(value)}",
            field_hint(model, path) or f"write {wanted}{example}",
            False,
        )
    if kind in ("too_short", "string_too_short"):
        n = ctx.get("min_length", 1)
        if kind == "string_too_short":
            return f"{where} must not be empty", field_hint(model, path) or "write a value", False
        return (
            f"{where} needs at least {n} item{'s' if n != 1 else ''}, got {ctx.get('actual_length', 0)}",
            field_hint(model, path) or "add the missing items",
            False,
        )
    if kind in ("too_long", "string_too_long"):
        n = ctx.get("max_length")
        return f"{where} may have at most {n} {'items' if kind == 'too_long' else 'characters'}", None, False
    if kind == "string_type":
        if isinstance(value, int | float | bool):
            return (
                f"{where}: expected text, got the {type(value).__name__} `{value}`",
                f'quote the value so YAML reads it as text: "{source_text or value}"',
                False,
            )
        return f"{where}: expected text, got {_shown(value)}", "write a single value, not a list or mapping", False
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
    if msg.startswith("Value error, "):  # the spec models' own rules: their messages say what to change
        return f"{where}: {msg[len('Value error, ') :]}", field_hint(model, path), False
    return f"{where}: {msg[:1].lower()}{msg[1:]}, got {_shown(value)}", field_hint(model, path), False


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value}"


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
    errors = exc.errors()
    # a misspelt required field is one mistake: report the unknown field (with "did you mean"),
    # not also the missing one it was meant to be
    meant = _misspelt_required(errors, data, model, strip_tag)
    errors = _most_telling_first(errors, data, strip_tag)
    for err in errors:
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
        if (
            key in seen
            or (skip_paths and path in skip_paths)
            or (err["type"] == "missing" and (path, missing) in meant)
        ):
            continue
        seen.add(key)
        location, snippet, width = source.location(index, path, key=False)
        written = snippet[location.column - 1 : location.column - 1 + width] if snippet and location.column else None
        message, hint, at_key = _describe(err, model, path, missing, written)
        if at_key:
            location, snippet, width = source.location(index, path, key=True)
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


_OWN_ERRORS = frozenset(("duration", "duration_unit", "number_as_text", "wrong_kind", "command_split", "bool_spelling"))
"""Error types of the specs' own validators: they say more than the strict member of a fast-first union."""


def _most_telling_first(errors: list[ErrorDetails], data: Any, strip_tag: bool) -> list[ErrorDetails]:
    """The errors in their order, except that where several are about one value (the members of a
    fast-first union, see ``specs.base.Bool``) the specs' own come first: only the first is shown."""
    groups: dict[DataPath, list[ErrorDetails]] = {}
    for err in errors:
        loc = tuple(err["loc"][1:] if strip_tag else err["loc"])
        groups.setdefault(_data_path(data, loc)[0], []).append(err)
    if all(len(g) == 1 for g in groups.values()):
        return errors
    return [e for g in groups.values() for e in sorted(g, key=lambda e: e["type"] not in _OWN_ERRORS)]


def _misspelt_required(
    errors: list[ErrorDetails], data: Any, model: type[BaseModel], strip_tag: bool
) -> set[tuple[DataPath, str | int | None]]:
    """(mapping path, field) of each missing field that an unknown field beside it is a misspelling of."""
    import difflib

    missing: dict[DataPath, set[str]] = {}
    for err in errors:
        if err["type"] == "missing":
            loc = tuple(err["loc"][1:] if strip_tag else err["loc"])
            path, gone = _data_path(data, loc)
            missing.setdefault(path, set()).add(str(gone if gone is not None else loc[-1]))
    out: set[tuple[DataPath, str | int | None]] = set()
    if not missing:
        return out
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"][1:] if strip_tag else err["loc"])
            path, _ = _data_path(data, loc)
            if not path:
                continue
            absent = missing.get(path[:-1])
            # the closest field can only be a missing one if a missing one is close at all: one cheap
            # comparison per unknown key first (a mapping of 40,000 unknown keys asks 40,000 times)
            if not absent or not difflib.get_close_matches(str(path[-1]), sorted(absent), n=1, cutoff=0.6):
                continue
            close = difflib.get_close_matches(str(path[-1]), fields_at(model, path[:-1]), n=1, cutoff=0.6)
            if close and close[0] in absent:
                out.add((path[:-1], close[0]))
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
