"""Positions in a document written in plain block style, read off its lines without composing it.

A cold plan of a large project reports a warning per endpoint without a capacity profile, each
at its spec line, and composing each endpoint's document with PyYAML for that was most of the
plan's checks (832 documents: ~0.2 s). Most specs are nested ``key: value`` mappings, one per
line, and there a value's position is plain to see: ``BlockDoc`` reads such a document's lines
into the same positions PyYAML's composer gives (a mapping starts at its first key, a scalar
at its first character, a flow collection at its bracket).

Anything outside that subset (a sequence, a multi-line or escaped scalar, an anchor, a tag, a
complex key, an empty value, a tab, a non-ASCII character, a flow collection the walk would
enter) makes ``parse`` or ``locate`` answer None, and the caller composes the document as
before: this is only ever a faster way to the same answer (tests/compiler/test_block_positions.py
compares the two on every example spec).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_KEY_LINE = re.compile(r"( *)([A-Za-z0-9_][A-Za-z0-9_./-]*):(?: +(.*))?")
"""A key line, right spaces stripped: its indent, a plain key, its colon, and what follows a space (None for
nothing): one match per line instead of a strip, a key match and a slice (a cold plan reads ~10,000 lines)."""
_DOUBLE = re.compile(r'("[^"\\]*") *(?:#.*)?')
_SINGLE = re.compile(r"('[^']*') *(?:#.*)?")
_PLAIN_START_BAD = frozenset("-?:,[]{}#&*!|>'\"%@`")
_CLOSE = {"{": "}", "[": "]"}
_NOT_IN_FLOW = re.compile("[\"'#]")
_BRACKET = re.compile(r"[\[\]{}]")
_INNERMOST = re.compile(r"\{[^\[\]{}]*\}|\[[^\[\]{}]*\]")


Scalar = tuple[int, int, int]
"""A scalar or a key: (line, column, width). A tuple, made in C: a document's walk makes two a line."""


@dataclass(slots=True)
class Flow:
    """A one-line flow mapping or sequence (``{a: 1}``, ``[x, y]``): its inside is left to the composer."""

    line: int
    column: int


@dataclass(slots=True)
class Mapping:
    """A block mapping: where it starts (its first key), and its keys."""

    line: int
    column: int
    keys: dict[str, tuple[Scalar, Node]] = field(default_factory=dict)
    """Key text -> (the key, its value); the first of duplicates, as the composer's lookup keeps."""


Node = Scalar | Flow | Mapping


def _value(text: str, column: int, line: int) -> Scalar | Flow | None:
    """The inline value of a key line (``text`` starts at the value's first character), or None
    for one outside the subset."""
    first = text[0]
    if first == '"' or first == "'":
        m = (_DOUBLE if first == '"' else _SINGLE).fullmatch(text)
        if m is None or (m.end(1) < len(text) and text[m.end(1)] == "#"):
            return None
        return (line, column, len(m.group(1)))
    if first in _CLOSE:
        return Flow(line, column) if _one_line_flow(text.rstrip(" ")) else None
    if first in _PLAIN_START_BAD:
        return None
    cut = text.find(" #")
    plain = (text if cut < 0 else text[:cut]).rstrip(" ")
    if ": " in plain or plain.endswith(":"):
        return None
    return (line, column, len(plain))


def _one_line_flow(text: str) -> bool:
    """Whether ``text`` is one flow collection closed at its last character, without quotes or comments."""
    if text[-1] != _CLOSE[text[0]] or _NOT_IN_FLOW.search(text):
        return False
    inner = text[1:-1]
    while _BRACKET.search(inner):  # nested collections: take out the innermost until none is left
        shorter = _INNERMOST.sub("", inner)
        if shorter == inner:
            return False  # a bracket left unmatched, or the collection closed before the end
        inner = shorter
    return True


_SKIP, _MARKER, _OUTSIDE, _KEY = range(4)
"""What a line is: blank or a comment, a `---` line, outside the subset, or a key line."""

LineRead = tuple[int, int, str, int, int, int]
"""(what, indent, key, value: 0 none on the line, 1 a scalar, 2 a flow collection, -1 outside the subset, its column,
its width)."""

_LINES: dict[str, LineRead] = {}
"""Lines read so far, by their text: a line reads the same wherever it is, and documents repeat most of theirs
(``apiVersion: modelplane/v1``, ``spec:``, an owner, a stack), so a cold plan's ~800 endpoint documents read a
few hundred distinct lines instead of ~11,000 (half of locating their warnings)."""
_LINES_MAX = 8192
_LINE_KEPT_MAX = 200


def _read_line(raw: str) -> LineRead:
    """One line as ``BlockDoc.parse`` sees it."""
    text = raw.rstrip(" ")
    m = _KEY_LINE.fullmatch(text)
    if m is None:
        body = text.lstrip(" ")
        if not body or body[0] == "#":
            return (_SKIP, 0, "", 0, 0, 0)
        if raw.startswith("---") and text == "---":
            return (_MARKER, 0, "", 0, 0, 0)
        return (_OUTSIDE, 0, "", 0, 0, 0)  # a sequence item, a quoted or complex key, or no key at all
    lead, name, rest = m.groups()
    if rest is None or rest[0] == "#":
        return (_KEY, len(lead), name, 0, 0, 0)
    value = _value(rest, m.start(3), 0)
    if value is None:
        return (_KEY, len(lead), name, -1, 0, 0)
    if isinstance(value, Flow):
        return (_KEY, len(lead), name, 2, value.column, 0)
    return (_KEY, len(lead), name, 1, value[1], value[2])


@dataclass(slots=True)
class BlockDoc:
    """A document read off its lines as nested block mappings (``parse``), for positions only."""

    root: Mapping

    @staticmethod
    def parse(lines: list[str]) -> BlockDoc | None:
        """The document in ``lines`` (its `---` line first, if it has one), or None outside the subset."""
        root: Mapping | None = None
        stack: list[tuple[int, Mapping]] = []
        pending: tuple[Mapping, str, Scalar, int] | None = None
        """A key whose value starts on a later line: (its mapping, the key, its node, its indent)."""
        joined = "".join(lines)
        if not (joined.isascii() and joined.isprintable()):
            return None  # tabs, control characters, and columns the composer counts by its own rules
        known = _LINES
        for number, raw in enumerate(lines):
            read = known.get(raw)
            if read is None:
                read = _read_line(raw)
                if len(raw) <= _LINE_KEPT_MAX:  # a long line is rarely repeated; the cache stays small
                    if len(known) >= _LINES_MAX:
                        known.clear()
                    known[raw] = read
            what, indent, name, value_kind, column, width = read
            if what != _KEY:
                if what == _SKIP or (what == _MARKER and number == 0):
                    continue
                return None  # outside the subset, or content on a marker line after the first
            if root is None:
                root = Mapping(number, indent)
                stack.append((indent, root))
            elif pending is not None:
                parent, pending_name, pending_key, key_indent = pending
                if indent <= key_indent:
                    return None  # an empty value, or a sequence at its key's indent: the composer places those
                child = Mapping(number, indent)
                parent.keys.setdefault(pending_name, (pending_key, child))
                stack.append((indent, child))
                pending = None
            else:
                while stack and indent < stack[-1][0]:
                    stack.pop()
                if not stack or indent != stack[-1][0]:
                    return None
            key_node = (number, indent, len(name))
            mapping = stack[-1][1]
            if value_kind == 0:
                pending = (mapping, name, key_node, indent)
                continue
            if value_kind < 0:
                return None
            value: Node = (number, column, width) if value_kind == 1 else Flow(number, column)
            mapping.keys.setdefault(name, (key_node, value))
        if root is None or pending is not None:
            return None
        # a scalar continued on a deeper line after its key would have failed the indent check above
        return BlockDoc(root)

    def locate(self, path: tuple[str | int, ...], key: bool = False) -> tuple[int, int, int] | None:
        """(0-based line, 0-based column, width) as ``SourceMap.locate`` walks ``path``; None where the walk
        would enter a flow collection (the composer's answer is needed there)."""
        node: Node = self.root
        key_node: Scalar | None = None
        for part in path:
            if isinstance(node, Flow):
                return None
            if not isinstance(node, Mapping):
                break
            found = node.keys.get(str(part))
            if found is None:
                break
            key_node, node = found
        else:
            if key and key_node is not None:
                node = key_node
        if isinstance(node, tuple):
            return node[0], node[1], max(1, node[2])
        return node.line, node.column, 1
