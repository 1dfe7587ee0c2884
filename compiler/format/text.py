"""A spec file's text in canonical form (``modelplane fmt``): every document rewritten by
``compiler.format.document``, comments kept, the layout the examples use (two-space mappings, lists
indented under their key, no line wrapping).

The file is first read by the compiler's own parser (``compiler.source.yamlio.parse``): what it refuses
(bad YAML, tabs, duplicate keys, tags) is returned as its diagnostics, with file:line:col, and nothing is
rewritten. A file that parses is formatted by ruamel.yaml's round-trip mode, which keeps comments, quoting
and flow style.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from modelplane.errors import Diagnostic

MAX_ALIAS_EVENTS = 10_000
"""The project file's default ``limits.max_alias_events``: fmt reads one file, not a project."""


@dataclass
class Formatted:
    """A file's canonical text, or the problems that keep it as it is."""

    text: str
    changed: bool
    problems: list[Diagnostic] = field(default_factory=list)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 1 << 16  # never wrap a long value: a line break inside a string is a change of layout only
    return yaml


def format_text(path: str, text: str) -> Formatted:
    """``text`` of the spec file ``path`` in canonical form (``changed`` when it differs)."""
    from modelplane.compiler.source.yamlio import parse

    parsed = parse(path, text, MAX_ALIAS_EVENTS)
    problems = parsed.errors + [d for found in parsed.document_errors.values() for d in found]
    if problems:
        return Formatted(text, False, problems)
    from modelplane.compiler.format.document import format_document

    yaml = _yaml()
    try:
        documents = list(yaml.load_all(text))
    except Exception as exc:  # the compiler's parser took it: ruamel's refusal is shown as it says it
        mark = getattr(exc, "problem_mark", None)
        line, col = (int(mark.line) + 1, int(mark.column) + 1) if mark is not None else (1, 1)
        from modelplane.errors import Location

        return Formatted(
            text,
            False,
            [
                Diagnostic(
                    "fmt-unreadable",
                    f"fmt cannot keep this file's layout: {str(exc).splitlines()[0]}",
                    Location(path, line, col),
                    "the file is valid YAML but uses a construct fmt cannot rewrite; leave it as it is",
                )
            ],
        )
    lines = text.splitlines()
    for doc in documents:
        if not _has_anchors(doc):  # an anchor's value is shared: rewriting one place rewrites others
            format_document(doc, lines)
    out = io.StringIO()
    yaml.dump_all(documents, out)
    new = out.getvalue()
    if text.startswith("---") and not new.startswith("---"):
        new = "---\n" + new
    return Formatted(new, new != text)


def _has_anchors(value: Any, depth: int = 0) -> bool:
    anchor = getattr(value, "anchor", None)
    if anchor is not None and getattr(anchor, "value", None):
        return True
    if depth > 64:
        return True
    if isinstance(value, dict):
        return any(_has_anchors(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_has_anchors(v, depth + 1) for v in value)
    return False
