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
from functools import lru_cache
from typing import Any

from modelplane.compiler.errors import Diagnostic, Location

_TAB_INDENT = re.compile(r"^( *)\t", re.MULTILINE)
_RS_POSITION = re.compile(r"at line (\d+), column (\d+)")
_ALIAS = re.compile(r"\*[^\s,\]\}]+")
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")


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
    """How many documents a stream holds, from its `---` lines (cheap; no parse)."""
    markers = text.count("\n---") + (1 if text.startswith("---") else 0)
    if not markers:
        return 1
    first = 0 if text.startswith("---") else text.index("\n---") + 1
    content_before = any(not _COMMENT_OR_BLANK.match(line) for line in text[:first].splitlines())
    return markers + (1 if content_before else 0)


def parse(path: str, text: str, max_alias_events: int) -> ParsedFile:
    """Parse every document of ``text``; on failure, diagnostics with positions."""
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
    from modelplane.compiler.positions import find_duplicate_key, syntax_error

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
    found = syntax_error(text)
    if found is not None:
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
    lines = text_lines(text)
    return lines[line - 1] if 0 < line <= len(lines) else None


@lru_cache(maxsize=8)
def text_lines(text: str) -> list[str]:
    """The lines of ``text``, split once: a file with N errors asks for N lines of the same text.

    Keyed by the text itself; a str caches its hash and a hit on the same object is an
    identity comparison, so a lookup costs O(1) after the first.
    """
    return text.splitlines()
