"""Source positions for error messages, recovered with PyYAML's composer.

Only files that have something to report pay for this second parse: the fast
path (yamlio) keeps no positions at all.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from modelplane.compiler.source.block_positions import BlockDoc
from modelplane.errors import Location


def _loader() -> Any:
    """PyYAML's C composer when libyaml is there, the pure one otherwise. PyYAML is imported
    on first use: only a file with something to report needs positions (~10 ms per run saved)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _position_loader() -> Any:
    """The composer for positions alone: PyYAML's C parser with the base resolver (no implicit tags)."""
    import yaml

    return getattr(yaml, "CBaseLoader", yaml.BaseLoader)


_DOC_MARKER_LINE = "---"
_ODD_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""Line breaks other than ``\n``: where ``splitlines`` and YAML could count lines differently."""
_ASCII_ODD_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e"


def _odd_breaks(text: str) -> bool:
    """Whether ``text`` has a line break other than ``\n``: in ASCII text, a substring search per break
    (a character class searched over every file of a cold plan was ~60 µs a file)."""
    if text.isascii():
        return any(c in text for c in _ASCII_ODD_BREAKS)
    return _ODD_BREAKS.search(text) is not None


def _at_line_start(text: str, prefix: str) -> bool:
    """Whether a line of ``text`` (one without odd breaks) starts with ``prefix``."""
    return text.startswith(prefix) or ("\n" + prefix) in text


def syntax_error(text: str) -> tuple[int, int, str] | None:
    """(line, column, message) of PyYAML's own syntax error for ``text``, if it has one."""
    import yaml

    try:
        for _ in yaml.compose_all(text, Loader=_loader()):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if exc.context_mark is not None and (mark is None or not text[mark.index :].strip()):
            # the problem is the end of the file (an unclosed `[`, `{` or quote): point where it opened,
            # a line that exists, rather than past the last one
            mark = exc.context_mark
        if mark is not None:
            problem = exc.problem or "invalid YAML"
            context = f" {exc.context}" if exc.context else ""
            return mark.line + 1, mark.column + 1, f"{problem}{context}"
    except yaml.YAMLError:
        return None
    return None


def find_duplicate_key(text: str, key: str) -> tuple[int, int] | None:
    """Line and column (1-based) of the second occurrence of ``key`` in one mapping."""
    import yaml

    try:
        docs = list(yaml.compose_all(text, Loader=_loader()))
    except yaml.YAMLError:
        return None
    seen: set[int] = set()
    for doc in docs:
        found = _dup_in(doc, key, seen)
        if found is not None:
            return found
    return None


def _dup_in(node: Any, key: str, visited: set[int]) -> tuple[int, int] | None:
    import yaml

    # an alias is the node it names, shared: walk each node once, or nested aliases
    # (a "billion laughs" document) take exponential time
    if id(node) in visited:
        return None
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value == key and k.value in seen:
                    return k.start_mark.line + 1, k.start_mark.column + 1
                seen.add(k.value)
            found = _dup_in(v, key, visited)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _dup_in(item, key, visited)
            if found:
                return found
    return None


def duplicate_keys(text: str) -> list[tuple[int, str, int, int]]:
    """Every key written twice in one mapping: (document index, key, line, column of the repeat)."""
    import yaml

    out: list[tuple[int, str, int, int]] = []
    try:
        docs = list(yaml.compose_all(text, Loader=_loader()))
    except yaml.YAMLError:
        return out
    visited: set[int] = set()  # aliases share nodes: each is walked once (see _dup_in)
    for index, doc in enumerate(docs):
        todo = [doc]
        while todo:
            node = todo.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            if isinstance(node, yaml.MappingNode):
                seen: set[str] = set()
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode):
                        if k.value in seen:
                            out.append((index, k.value, k.start_mark.line + 1, k.start_mark.column + 1))
                        seen.add(k.value)
                    todo.append(v)
            elif isinstance(node, yaml.SequenceNode):
                todo.extend(node.value)
    return sorted(out, key=lambda d: (d[2], d[3]))


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
        self._one: dict[int, tuple[Any, int]] = {}
        """Documents composed one at a time (``_document``): node and the 0-based line its text starts at."""
        self._blocks: dict[int, tuple[BlockDoc, int] | None] = {}
        """Documents read without composing (``_block``), or None where that cannot be done."""
        self._markers: tuple[list[int], bool] | None = None
        self._odd_breaks: bool | None = None
        self._split: list[int] | None = None
        self._plain = False
        self._keys: dict[int, dict[str, tuple[Any, Any]]] = {}
        """Per mapping node (by id), its keys' text -> (key node, value node): a mapping with N unknown keys
        is asked N times, and a scan per question made that quadratic (40,000 keys took 120 s)."""

    def _documents(self) -> list[Any]:
        import yaml

        if self._docs is None:
            try:
                self._docs = list(yaml.compose_all(self.text, Loader=_loader()))
            except yaml.YAMLError:
                self._docs = []
        return self._docs

    def _document(self, index: int) -> tuple[Any, int] | None:
        """Document ``index`` composed alone, with the 0-based line its text starts at (its node's marks
        count from there), or None where it is not there. Composing only the document asked about, not
        the whole file, is what makes a warning per endpoint cheap in a file of 24 documents (832 capacity
        warnings composed 5,000 documents: a second of a cold plan). Where the file could split
        differently than at its `---` lines (directives, `...` ends) or the piece does not compose on its
        own, the whole file is composed as before."""
        if index in self._one:
            return self._one[index]
        starts = self._starts()
        if self._docs is None and starts is not None and 0 <= index < len(starts):
            lines = text_lines(self.text)
            first = starts[index]
            last = starts[index + 1] if index + 1 < len(starts) else len(lines)
            piece = self._piece(first, last, lines)
            if piece is not None:
                self._one[index] = (piece, first)
                return self._one[index]
        docs = self._documents()
        return (docs[index], 0) if index < len(docs) else None

    def _block(self, index: int) -> tuple[BlockDoc, int] | None:
        """Document ``index`` read as plain block mappings (``block_positions``), with the 0-based line it
        starts at; None where it is written otherwise (it is then composed)."""
        if index not in self._blocks:
            starts = self._starts()
            found = None
            if starts is not None and 0 <= index < len(starts):
                lines = text_lines(self.text)
                first = starts[index]
                last = starts[index + 1] if index + 1 < len(starts) else len(lines)
                doc = BlockDoc.parse(lines[first:last])
                found = (doc, first) if doc is not None else None
            self._blocks[index] = found
        return self._blocks[index]

    def _odd(self) -> bool:
        if self._odd_breaks is None:
            self._odd_breaks = _odd_breaks(self.text)
        return self._odd_breaks

    def _starts(self) -> list[int] | None:
        """The 0-based first line of each document, once per file; None where the file may split
        differently than at its `---` lines."""
        if self._split is None:
            markers, content_before = self._document_markers()
            # without odd breaks the lines are the text's `\n` lines: a search of the text finds a directive
            # or a document end where a scan of its lines would (in C: ~80,000 lines in a cold plan)
            plain = not self._odd() and not any(_at_line_start(self.text, p) for p in ("%", "..."))
            self._split = (([0] if content_before else []) + markers) if plain else []
            self._plain = plain
        return self._split if self._plain else None

    def _piece(self, first: int, last: int, lines: list[str]) -> Any:
        import yaml

        try:
            # the base resolver: positions need the nodes' marks, not their tags (the safe one's implicit
            # resolution was half of composing an endpoint's document)
            node = yaml.compose("\n".join(lines[first:last]) + "\n", Loader=_position_loader())
        except yaml.YAMLError:
            return None
        return node

    def document_start(self, index: int) -> tuple[int, int]:
        """Where document ``index`` starts: its `---` line, or its first node."""
        markers, content_before = self._document_markers()
        marker_index = index - 1 if content_before else index
        if 0 <= marker_index < len(markers):
            return markers[marker_index] + 1, 1
        docs = self._documents()
        if index < len(docs):
            mark = docs[index].start_mark
            return mark.line + 1, mark.column + 1
        return 1, 1

    def _document_markers(self) -> tuple[list[int], bool]:
        """The `---` lines and whether content comes before the first, computed once per file
        (a file of N bad documents asks N times)."""
        if self._markers is None:
            lines = text_lines(self.text)
            if self._odd():
                markers = [i for i, line in enumerate(lines) if line.startswith(_DOC_MARKER_LINE)]
            else:  # the lines are the text's `\n` lines: count them up to each marker the search finds
                text = self.text
                markers = [0] if text.startswith(_DOC_MARKER_LINE) else []
                line, at = 0, 0
                found = text.find("\n" + _DOC_MARKER_LINE)
                while found >= 0:
                    line += text.count("\n", at, found + 1)
                    at = found + 1
                    markers.append(line)
                    found = text.find("\n" + _DOC_MARKER_LINE, at)
            first_marker = markers[0] if markers else len(lines)
            content_before = any(line.strip() and not line.lstrip().startswith("#") for line in lines[:first_marker])
            self._markers = (markers, content_before)
        return self._markers

    def locate(self, index: int, path: tuple[str | int, ...], key: bool = False) -> tuple[int, int, int]:
        """(line, column, width) of ``path`` in document ``index``.

        With ``key`` the position of the last mapping key is returned instead of
        its value: where an unknown field was written.
        """
        block = self._block(index)
        if block is not None:
            quick = block[0].locate(path, key)
            if quick is not None:
                return block[1] + quick[0] + 1, quick[1] + 1, quick[2]
        import yaml

        found = self._document(index)
        if found is None or found[0] is None:
            line, col = self.document_start(index)
            return line, col, 1
        node: Any = found[0]
        offset = found[1]
        key_node: Any = None
        for part in path:
            nxt = None
            if isinstance(node, yaml.MappingNode):
                found = self._mapping_keys(node).get(str(part))
                if found is not None:
                    key_node, nxt = found
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
        return offset + mark.line + 1, mark.column + 1, width

    def _mapping_keys(self, node: Any) -> dict[str, tuple[Any, Any]]:
        import yaml

        keys = self._keys.get(id(node))
        if keys is None:
            keys = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    keys.setdefault(k.value, (k, v))  # the first of duplicates, as the scan found
            self._keys[id(node)] = keys
        return keys

    def location(self, index: int, path: tuple[str | int, ...], key: bool = False) -> tuple[Location, str | None, int]:
        line, col, width = self.locate(index, path, key)
        return Location(self.path, line, col), source_line(self.text, line), width


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
