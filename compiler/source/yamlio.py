"""Reading spec files: a fast parse for the common case, positions only when needed.

The fast path is yaml-rs (a Rust YAML 1.2 parser, about 9x faster than PyYAML's
C loader here) which already rejects duplicate keys and bounds alias expansion.
Source positions cost a second parse, so they are recovered with PyYAML's
composer only for the few files that have an error to report (``SourceMap``).
YAML 1.2 also means ``yes``/``no``/``on`` stay strings (no "Norway problem").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from modelplane.compiler.source.positions import source_line
from modelplane.errors import Diagnostic, Location, format_path

_TAB_INDENT = re.compile(r"^( *)\t", re.MULTILINE)
_RS_POSITION = re.compile(r"at line (\d+), column (\d+)")
_ALIAS = re.compile(r"\*[^\s,\]\}]+")
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")


@dataclass
class ParsedFile:
    """The documents of one file, or the diagnostics that stopped it."""

    documents: list[Any] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    document_errors: dict[int, list[Diagnostic]] = field(default_factory=dict)
    """Problems of single documents (a duplicate key): the others are still validated."""
    budget: int = 0
    """Bytes interpolation may still add to this file before it passes ``limits.max_file_bytes``."""


def decode(path: str, data: bytes) -> tuple[str | None, Diagnostic | None]:
    """UTF-8 text of a file, or a diagnostic pointing at the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, Diagnostic(
            code="not-utf8",
            message=f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            location=Location(path, line, col),
            hint="save the file as UTF-8",
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, None


def _expected_documents(text: str) -> int:
    """How many documents a stream holds, from its `---` lines (cheap; no parse)."""
    markers = text.count("\n---") + (1 if text.startswith("---") else 0)
    if not markers:
        return 1
    first = 0 if text.startswith("---") else text.index("\n---") + 1
    content_before = any(not _COMMENT_OR_BLANK.match(line) for line in text[:first].splitlines())
    return markers + (1 if content_before else 0)


def parse(path: str, text: str, max_alias_events: int, check_values: bool = True) -> ParsedFile:
    """Parse every document of ``text``; on failure, diagnostics with positions.

    ``check_values=False`` leaves out ``unsafe_values``, for a caller that checks
    many files' documents at once (``plainly_safe_files``) and each file only when that fails.
    """
    out = ParsedFile()
    tab = _TAB_INDENT.search(text) if "\t" in text else None
    if tab is not None:
        line = text.count("\n", 0, tab.start()) + 1
        out.errors.append(
            _diag(
                path,
                text,
                line,
                len(tab.group(1)) + 1,
                code="tab-indentation",
                message="tab character used for indentation",
                hint="YAML indentation must use spaces; replace the tab with spaces",
            )
        )
        return out
    import yaml_rs  # imported here: a warm run that parses nothing never loads it

    result: Any
    try:
        result = yaml_rs.loads(
            text,
            parse_datetime=False,
            alias_limits=yaml_rs.AliasLimits(max_total_replayed_events=max_alias_events),
        )
    except yaml_rs.YAMLDecodeError as exc:
        result = _with_duplicates(path, text, str(exc), max_alias_events, out)
        if result is None:
            out.errors.append(_decode_error(path, text, str(exc), max_alias_events))
            return out
    if isinstance(result, list) and _expected_documents(text) > 1:
        out.documents = result
    else:
        out.documents = [result]
    out.errors.extend(unsafe_constructs(path, text))
    if not out.errors and check_values:
        out.errors.extend(unsafe_values(path, text, out.documents))
    return out


SAFE_INTEGER = 2**53
"""Integers must lie within +-2^53: the range a JSON number keeps exactly (RFC 7493)."""
MAX_NESTING = 64
_ALLOWED_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")} | {"!"}


_NODE_PROPERTY = re.compile(r"(?:^|[\s\[{,])[!*]", re.MULTILINE)
"""Where a tag (`!x`) or an alias (`*x`) can be: at the start of a node."""


_CONSTRUCT_HINTS = {
    "recursive-alias": "a value cannot contain itself; repeat the values instead of the alias",
    "unsupported-tag": "remove the tag: write text, numbers, booleans, lists and mappings "
    "(binary data as a quoted string, a set as a list)",
    "merge-key": "YAML 1.2 has no merge keys: write the keys out, or use an environment's "
    "`overrides:` in modelplane.yaml for per-environment changes",
    "complex-key": "mapping keys must be text",
}


def unsafe_constructs(path: str, text: str) -> list[Diagnostic]:
    """YAML constructs the fast parser would silently mangle, from PyYAML's event stream.

    yaml-rs drops unknown tags (``!!binary`` becomes the base64 text), turns a
    self-referencing alias into null and keeps ``<<`` as a plain key; none of that
    may pass unnoticed. Only files with a ``!``, ``*`` or ``<<`` pay for this scan.
    """
    if "!" not in text and "*" not in text and "<<" not in text:  # (`in` is far faster than a regex)
        return []
    if "<<" not in text and _NODE_PROPERTY.search(text) is None:
        # a `!` or `*` inside text (`specs/**/*.yaml`, `Hello!`) is no tag or alias: those only start a
        # node, after a space, a line start or `[{,` (PyYAML's import and scan cost ~15 ms a run)
        return []
    import yaml

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: list[Diagnostic] = []

    def found(mark: Any, code: str, message: str, width: int = 1) -> None:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        out.append(_diag(path, text, line, col, code=code, message=message, hint=_CONSTRUCT_HINTS[code], width=width))

    # per open collection: [anchor, is a mapping, the next node is a key]
    stack: list[list[Any]] = []
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.CollectionEndEvent, yaml.DocumentStartEvent, yaml.DocumentEndEvent)):
                if isinstance(event, yaml.CollectionEndEvent) and stack:
                    stack.pop()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            parent = stack[-1] if stack else None
            is_key = bool(parent and parent[1] and parent[2])
            if parent and parent[1]:
                parent[2] = not parent[2]
            mark = event.start_mark
            if isinstance(event, yaml.AliasEvent):
                if any(entry[0] == event.anchor for entry in stack):
                    message = f"alias `*{event.anchor}` refers to the collection that contains it"
                    found(mark, "recursive-alias", message, width=len(event.anchor or "") + 1)
                continue
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _ALLOWED_TAGS:
                shown = tag.replace("tag:yaml.org,2002:", "!!")
                message = f"YAML tag `{shown}` is not supported: specs hold only JSON values"
                found(mark, "unsupported-tag", message, width=len(shown))
            if isinstance(event, yaml.ScalarEvent):
                if is_key and event.value == "<<" and not event.style:  # plain, not quoted
                    found(mark, "merge-key", "YAML merge keys (`<<`) are not supported", width=2)
            else:  # a sequence or mapping opens
                if is_key:
                    found(mark, "complex-key", "a list or mapping used as a mapping key")
                stack.append([event.anchor, isinstance(event, yaml.MappingStartEvent), True])
    except yaml.YAMLError:
        return out  # the fast parser accepted it; its own errors are reported elsewhere
    return out


_ORJSON_DEPTH = 254  # orjson refuses deeper nesting ("Recursion limit reached")
FLOAT_LIMIT = 1e16
"""Floats must be finite and smaller than this in magnitude: 1e308 billion parameters
overflowed the GPU arithmetic to inf. (orjson writes exactly these with an exponent.)"""


def _plainly_safe(documents: list[Any]) -> bool:
    """The fast verdict, without a Python walk (which would cost as much as the parse itself).

    orjson, in C, refuses integers past 2^53 (``OPT_STRICT_INTEGER``), non-text keys and
    sets; wrapping the documents in enough lists makes its fixed depth limit fall exactly
    at ``MAX_NESTING``. In its output inf and nan become ``null`` and every float of
    magnitude 1e16 or more has an ``e+`` exponent: documents without either (real nulls
    are rare in specs) need no walk.
    """
    return _dumps_plainly(_WRAP, _WRAP_LEAF, documents)


def plainly_safe_files(files: list[list[Any]]) -> bool:
    """``_plainly_safe`` for the documents of many files in one orjson call (one level deeper)."""
    return _dumps_plainly(_FILES_WRAP, _FILES_LEAF, files)


def _dumps_plainly(wrap: list[Any], leaf: list[Any], value: Any) -> bool:
    """Whether orjson, with ``value`` in ``wrap``'s innermost list, writes it without refusing it,
    without ``null`` and without an ``e+`` exponent (see ``_plainly_safe``)."""
    import orjson

    leaf[0] = value
    try:
        out = orjson.dumps(wrap, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:
        return False
    finally:
        leaf[0] = None
    return b"null" not in out and b"e+" not in out


def _wrapper(depth: int) -> tuple[list[Any], list[Any]]:
    """``depth`` nested lists, built once: the outermost and the innermost (which holds the documents)."""
    leaf: list[Any] = [None]
    outer = leaf
    for _ in range(depth - 1):
        outer = [outer]
    return outer, leaf


_WRAP_DEPTH = _ORJSON_DEPTH - MAX_NESTING - 1
_WRAP, _WRAP_LEAF = _wrapper(_WRAP_DEPTH)
_FILES_WRAP, _FILES_LEAF = _wrapper(_WRAP_DEPTH - 1)


def unsafe_values(path: str, text: str, documents: list[Any]) -> list[Diagnostic]:
    """Values JSON cannot carry exactly, each at its line: numbers past +-2^53, inf, nan,
    non-text keys, sets, nesting deeper than ``MAX_NESTING``."""
    if _plainly_safe(documents):
        return []
    found: list[tuple[int, tuple[str | int, ...], str, str, str]] = []
    for index, doc in enumerate(documents):
        # iterative: no recursion limit, and each container is visited once
        todo: list[tuple[Any, tuple[str | int, ...]]] = [(doc, ())]
        while todo:
            value, where = todo.pop()
            if isinstance(value, dict):
                if len(where) >= MAX_NESTING:
                    found.append((index, where, "too-deep", f"values nest more than {MAX_NESTING} levels deep", ""))
                    continue
                for k, v in value.items():
                    if not isinstance(k, str):
                        found.append((index, where, "non-text-key", _key_message(k), 'quote the key, e.g. "1":'))
                        continue
                    if isinstance(v, (dict, list, set, tuple, int, float)):
                        todo.append((v, (*where, k)))
            elif isinstance(value, list):
                if len(where) >= MAX_NESTING:
                    found.append((index, where, "too-deep", f"values nest more than {MAX_NESTING} levels deep", ""))
                    continue
                for i, v in enumerate(value):
                    if isinstance(v, (dict, list, set, tuple, int, float)):
                        todo.append((v, (*where, i)))
            elif isinstance(value, bool):
                continue
            elif isinstance(value, int):
                if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
                    found.append((index, where, "number-out-of-range", _number_message(value), _NUMBER_HINT))
            elif isinstance(value, float):
                if value != value or value in (float("inf"), float("-inf")) or abs(value) >= FLOAT_LIMIT:
                    found.append((index, where, "number-out-of-range", _number_message(value), _NUMBER_HINT))
            elif isinstance(value, (set, tuple)):
                found.append((index, where, "unsupported-value", "a set is not a JSON value", "write a list"))
    if not found:
        return []
    from modelplane.compiler.source.positions import SourceMap

    source = SourceMap(path, text)
    out = []
    for index, where, code, message, hint in sorted(found, key=lambda f: (f[0], [str(p) for p in f[1]])):
        loc, snippet, width = source.location(index, where)
        shown = format_path(where) or "document"
        out.append(
            Diagnostic(
                code=code,
                message=f"{shown}: {message}",
                location=loc,
                hint=hint or "flatten the structure",
                snippet=snippet,
                width=width,
            )
        )
    return out


_NUMBER_HINT = (
    "integers must lie between -2^53 and 2^53 (9,007,199,254,740,992), other numbers be finite and under 1e16; "
    'quote the value if it is an identifier (e.g. "12345678901234567890")'
)


def _number_message(value: float) -> str:
    if isinstance(value, float) and value != value:
        return "`nan` is not a number JSON can carry"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return f"`{value}` is not finite (too large a number, or .inf)"
    text = str(value)
    return f"the number `{text if len(text) <= 40 else text[:37] + '...'}` is outside the safe range"


def _key_message(key: Any) -> str:
    shown = "a list or mapping" if isinstance(key, (tuple, frozenset)) else f"the {type(key).__name__} `{key}`"
    return f"mapping key is {shown}, not text"


def _with_duplicates(path: str, text: str, message: str, max_alias_events: int, out: ParsedFile) -> Any | None:
    """A stream whose only fault is keys written twice: parsed keeping the last value, with a
    ``duplicate-key`` error on each document that has one, so the other documents are still
    validated (one duplicate must not hide another document's unknown field). None otherwise."""
    if not message.startswith("duplicate mapping key"):
        return None
    import yaml_rs

    from modelplane.compiler.source.positions import duplicate_keys

    try:
        result = yaml_rs.loads(
            text,
            parse_datetime=False,
            alias_limits=yaml_rs.AliasLimits(max_total_replayed_events=max_alias_events),
            duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.LastWins,
        )
    except yaml_rs.YAMLDecodeError:
        return None
    found = duplicate_keys(text)
    if not found:
        # keys equal only as Python values (`1` and `true`, `1` and `1.0`) are different YAML keys, not a
        # duplicate: the non-text-key check reports what is wrong with them
        return result
    for index, key, line, col in found:
        out.document_errors.setdefault(index, []).append(_duplicate_key(path, text, key, line, col))
    return result


def _duplicate_key(path: str, text: str, key: str, line: int, col: int) -> Diagnostic:
    return _diag(
        path,
        text,
        line,
        col,
        code="duplicate-key",
        message=f"duplicate key `{key}` in a mapping",
        hint="YAML would silently keep only the last value; remove or rename one of them",
        width=len(key),
    )


def _decode_error(path: str, text: str, message: str, max_alias_events: int) -> Diagnostic:
    from modelplane.compiler.source.positions import find_duplicate_key, syntax_error

    if message.startswith("duplicate mapping key"):
        key = message.split(":", 1)[1].strip().strip("'\"")
        where = find_duplicate_key(text, key)
        line, col = where if where else (1, 1)
        return _duplicate_key(path, text, key, line, col)
    if "alias" in message and "limit" in message:
        m = _ALIAS.search(text)
        line = text.count("\n", 0, m.start()) + 1 if m else 1
        col = m.start() - text.rfind("\n", 0, m.start()) if m else 1
        return _diag(
            path,
            text,
            line,
            col,
            code="alias-limit",
            message=f"YAML aliases expand to more than {max_alias_events} nodes",
            hint="repeat the values instead of nesting aliases, or raise `limits.max_alias_events` in modelplane.yaml",
        )
    # Prefer PyYAML's wording when it also rejects the text: it names the construct being parsed.
    found = syntax_error(text)
    if found is None:
        m = _RS_POSITION.search(message)
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        found = (line, col, message.strip().splitlines()[-1])
    line, col, problem = found
    return _diag(
        path,
        text,
        line,
        col,
        code="yaml-syntax",
        message=f"invalid YAML: {problem}",
        hint="check the indentation and the brackets or quotes around this point",
    )


def _diag(
    path: str,
    text: str,
    line: int,
    col: int,
    *,
    code: str,
    message: str,
    hint: str | None,
    width: int = 1,
) -> Diagnostic:
    return Diagnostic(
        code=code,
        message=message,
        location=Location(path, line, col),
        hint=hint,
        snippet=source_line(text, line),
        width=width,
    )
