"""One spec document in canonical form: keys in the order of its kind's model, values in the spelling the
field's validator keeps (``compiler.format.fields``), comments where they were (``compiler.format.comments``).

Only what the specs' own types decide changes: free-form maps (``labels``, ``engine.args``) keep their
order, unknown keys stay where they are (after the known ones) for ``validate`` to report, a value that
does not validate stays as written, and a value holding an interpolation (``${var.x}``) is left alone:
its spelling is the environment's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, partial
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from modelplane.compiler.format.comments import reorder
from modelplane.compiler.format.fields import NotValid, Shape, canonical, fields, is_text_field, key_order, shape_of

_SCALAR_TEXT = re.compile(r"[^\s,\]\}#]+")
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./@:+-]*$")


def format_document(doc: Any, lines: list[str]) -> None:
    """Rewrite ``doc`` (a round-trip document) in place; ``lines`` are the file's, to read a float as written."""
    from modelplane.specs.kinds import KIND_MODELS

    if not isinstance(doc, CommentedMap):
        return
    kind = doc.get("kind")
    model = KIND_MODELS.get(kind) if isinstance(kind, str) else None
    if model is not None:
        _model(doc, model, lines, document=True)


def _model(node: CommentedMap, model: type[BaseModel], lines: list[str], document: bool = False) -> None:
    table = fields(model)
    for key in list(node):
        canonical_key = table[key][0] if isinstance(key, str) and key in table else key
        if canonical_key != key and canonical_key not in node:  # `schema_` is written `schema`
            _rename(node, key, canonical_key)
    for key in list(node):
        entry = table.get(key) if isinstance(key, str) else None
        if entry is None:
            continue
        info = entry[1]
        shape = shape_of(info.annotation)
        if shape is not None:
            _shaped(node[key], shape, lines)
        else:
            node[key] = _leaf(info, node[key], partial(_value_text, node, key, lines))
    reorder(node, key_order(model), document)


def _shaped(value: Any, shape: Shape, lines: list[str]) -> None:
    if shape.model is not None and isinstance(value, CommentedMap):
        _model(value, shape.model, lines)
    elif shape.items is not None and shape.mapping and isinstance(value, CommentedMap):
        for v in value.values():
            _shaped(v, shape.items, lines)
    elif shape.items is not None and isinstance(value, CommentedSeq):
        for v in value:
            _shaped(v, shape.items, lines)


def _rename(node: CommentedMap, old: str, new: str) -> None:
    at = list(node).index(old)
    value = node.pop(old)
    node.insert(at, new, value)
    if old in node.ca.items:
        node.ca.items[new] = node.ca.items.pop(old)


def _value_text(node: CommentedMap, key: Any, lines: list[str]) -> str | None:
    """The text the file wrote for ``node[key]`` (a plain scalar)."""
    return _written(node.lc.value(key), lines)


def _written(position: tuple[int, int] | None, lines: list[str]) -> str | None:
    if position is None or position[0] >= len(lines):
        return None
    found = _SCALAR_TEXT.match(lines[position[0]], position[1])
    return found.group(0) if found else None


def _leaf(info: FieldInfo, value: Any, written: Callable[[], str | None]) -> Any:
    """``value`` in its canonical spelling (the same object, updated, where its shape stays)."""
    if _interpolated(value):
        return value
    plain = _plain(value)
    try:
        canon = canonical(info, plain)
    except NotValid:
        # `version: 1.5`: the loader reads a float as the text the file wrote, where that is what it prints
        text = written() if isinstance(plain, float) else None
        if text is None or text != repr(plain) or not is_text_field(info):
            return value
        try:
            canon = canonical(info, text)
        except NotValid:
            return value
    return _merge(value, canon)


def _merge(raw: Any, canon: Any) -> Any:
    if isinstance(raw, CommentedMap) and isinstance(canon, dict):
        for k in list(raw):
            if k in canon:
                raw[k] = _merge(raw[k], canon[k])
        return raw
    if isinstance(raw, CommentedSeq) and isinstance(canon, list) and len(raw) == len(canon):
        for i, c in enumerate(canon):
            raw[i] = _merge(raw[i], c)
        return raw
    if _same(_plain(raw), canon):
        return raw
    return _node(canon)


def _same(plain: Any, canon: Any) -> bool:
    """Equal, and the same kind of value (numbers are numbers: `1` and `1.0` are one spelling here)."""
    number = (int, float)
    if isinstance(plain, bool) or isinstance(canon, bool):
        return type(plain) is type(canon) and plain == canon
    if isinstance(plain, number) and isinstance(canon, number):
        return bool(plain == canon)
    return type(plain) is type(canon) and plain == canon


def _node(value: Any) -> Any:
    """A new value as a formatted document writes it: text quoted where YAML would read it otherwise,
    a list of text in flow style with each item quoted (as the examples write commands)."""
    if isinstance(value, str):
        return value if _PLAIN_SAFE.match(value) and _reads_as_text(value) else DoubleQuotedScalarString(value)
    if isinstance(value, list):
        seq = CommentedSeq(DoubleQuotedScalarString(v) if isinstance(v, str) else _node(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        out = CommentedMap((k, _node(v)) for k, v in value.items())
        out.fa.set_flow_style()
        return out
    return value


@cache
def _reads_as_text(value: str) -> bool:
    """Whether YAML 1.2 reads ``value`` written plainly as this text (``1m`` yes; ``7``, ``true``, ``null`` no)."""
    from ruamel.yaml import YAML

    try:
        return bool(YAML(typ="safe", pure=True).load(value) == value)
    except Exception:
        return False


def _interpolated(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_interpolated(k) or _interpolated(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_interpolated(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    """Plain Python values of a round-trip value (ruamel's scalar subclasses carry formatting)."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return bool(value) if type(value).__name__ == "ScalarBoolean" else int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
