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

import yaml
import yaml_rs

from modelplane.compiler.errors import Diagnostic, Location

_DOC_MARKER = re.compile(r"^---(?:[ \t]|$)", re.MULTILINE)
_TAB_INDENT = re.compile(r"^( *)\t", re.MULTILINE)
_RS_POSITION = re.compile(r"at line (\d+), column (\d+)")
_ALIAS = re.compile(r"\*[^\s,\]\}]+")
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")

try:  # the C composer is only used for positions; the pure one is a fallback
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


@dataclass
class ParsedFile:
    """The documents of one file, or the diagnostics that stopped it."""

    documents: list[Any] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)


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
    markers = list(_DOC_MARKER.finditer(text))
    if not markers:
        return 1
    head = text[: markers[0].start()]
    content_before = any(not _COMMENT_OR_BLANK.match(line) for line in head.splitlines())
    return len(markers) + (1 if content_before else 0)


def parse(path: str, text: str, max_alias_events: int) -> ParsedFile:
    """Parse every document of ``text``; on failure, diagnostics with positions."""
    out = ParsedFile()
    tab = _TAB_INDENT.search(text)
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
    try:
        result = yaml_rs.loads(
            text,
            parse_datetime=False,
            alias_limits=yaml_rs.AliasLimits(max_total_replayed_events=max_alias_events),
        )
    except yaml_rs.YAMLDecodeError as exc:
        out.errors.append(_decode_error(path, text, str(exc), max_alias_events))
        return out
    if isinstance(result, list) and _expected_documents(text) > 1:
        out.documents = result
    else:
        out.documents = [result]
    return out


def _decode_error(path: str, text: str, message: str, max_alias_events: int) -> Diagnostic:
    if message.startswith("duplicate mapping key"):
        key = message.split(":", 1)[1].strip().strip("'\"")
        where = find_duplicate_key(text, key)
        line, col = where if where else (1, 1)
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
    try:
        for _ in yaml.compose_all(text, Loader=_Loader):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            problem = exc.problem or "invalid YAML"
            context = f" {exc.context}" if exc.context else ""
            return _diag(
                path,
                text,
                mark.line + 1,
                mark.column + 1,
                code="yaml-syntax",
                message=f"invalid YAML: {problem}{context}",
                hint="check the indentation and the brackets or quotes around this point",
            )
    m = _RS_POSITION.search(message)
    line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
    reason = message.strip().splitlines()[-1]
    return _diag(
        path,
        text,
        line,
        col,
        code="yaml-syntax",
        message=f"invalid YAML: {reason}",
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


def source_line(text: str, line: int) -> str | None:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else None


def find_duplicate_key(text: str, key: str) -> tuple[int, int] | None:
    """Line and column (1-based) of the second occurrence of ``key`` in one mapping."""
    try:
        docs = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError:
        return None
    for doc in docs:
        found = _dup_in(doc, key)
        if found is not None:
            return found
    return None


def _dup_in(node: Any, key: str) -> tuple[int, int] | None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value == key and k.value in seen:
                    return k.start_mark.line + 1, k.start_mark.column + 1
                seen.add(k.value)
            found = _dup_in(v, key)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _dup_in(item, key)
            if found:
                return found
    return None


class SourceMap:
    """Positions of values in one file's documents, built on first use.

    ``locate(doc, path)`` walks the composed node tree along ``path`` (mapping
    keys and list indices) and returns the deepest node it reaches, so an error
    about a missing field points at the mapping that lacks it.
    """

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self._docs: list[Any] | None = None

    def _documents(self) -> list[Any]:
        if self._docs is None:
            try:
                self._docs = list(yaml.compose_all(self.text, Loader=_Loader))
            except yaml.YAMLError:
                self._docs = []
        return self._docs

    def document_start(self, index: int) -> tuple[int, int]:
        docs = self._documents()
        if index < len(docs):
            mark = docs[index].start_mark
            return mark.line + 1, mark.column + 1
        markers = list(_DOC_MARKER.finditer(self.text))
        if markers:
            pos = markers[min(index, len(markers) - 1)].start()
            return self.text.count("\n", 0, pos) + 1, 1
        return 1, 1

    def locate(self, index: int, path: tuple[str | int, ...], key: bool = False) -> tuple[int, int, int]:
        """(line, column, width) of ``path`` in document ``index``.

        With ``key`` the position of the last mapping key is returned instead of
        its value: where an unknown field was written.
        """
        docs = self._documents()
        if index >= len(docs):
            line, col = self.document_start(index)
            return line, col, 1
        node: Any = docs[index]
        key_node: Any = None
        for part in path:
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        nxt, key_node = v, k
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                nxt, key_node = node.value[part], None
            if nxt is None:
                break
            node = nxt
        else:
            if key and key_node is not None:
                node = key_node
        mark = node.start_mark
        width = 1
        if isinstance(node, yaml.ScalarNode) and node.start_mark.line == node.end_mark.line:
            width = max(1, node.end_mark.column - node.start_mark.column)
        return mark.line + 1, mark.column + 1, width

    def location(self, index: int, path: tuple[str | int, ...], key: bool = False) -> tuple[Location, str | None, int]:
        line, col, width = self.locate(index, path, key)
        return Location(self.path, line, col), source_line(self.text, line), width
