"""Reordering a mapping's keys without losing a comment, or leaving one beside the wrong key.

ruamel.yaml keeps a comment with the entry it follows: ``# why`` on the line above ``b:`` is stored after
``a``'s value (in ``a``'s own slot, or in the last entry of ``a``'s block value), so moving ``b`` would
leave it behind. Before the keys move, the full-line comments in front of each key are taken out of the
previous entry's slot (those at the mapping's indentation or less; a deeper one belongs to the nested
block it ends); after, each goes back in front of its own key. A comment at the end of a line stays
with its line.
"""

from __future__ import annotations

import itertools
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken


def _is_block(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq) and len(value) > 0 and not value.fa.flow_style()


def _slot(container: CommentedMap | CommentedSeq, key: Any) -> tuple[list[Any], int]:
    """The comment slot after the entry ``key`` of ``container``: in the last entry of its value where
    that is a block collection (the comment follows the block's last line)."""
    value = container[key]
    if _is_block(value):
        last = next(reversed(value)) if isinstance(value, CommentedMap) else len(value) - 1
        return _slot(value, last)
    if isinstance(container, CommentedMap):
        return container.ca.items.setdefault(key, [None, None, None, None]), 2
    return container.ca.items.setdefault(key, [None, None, None, None]), 0


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def take_tail(container: CommentedMap, key: Any, column: int) -> str:
    """Remove and return the full-line comments (and blank lines) after entry ``key`` that sit at
    ``column`` or left of it: what is written in front of the next key."""
    slot, at = _slot(container, key)
    token = slot[at]
    if not isinstance(token, CommentToken):
        return ""
    value: str = token.value
    cut = value.find("\n")
    if cut < 0:
        return ""
    head, lines = value[: cut + 1], value[cut + 1 :].splitlines(keepends=True)
    split = len(lines)
    while split > 0 and (not lines[split - 1].strip() or _indent(lines[split - 1]) <= column):
        split -= 1
    token.value = head + "".join(lines[:split])
    return "".join(lines[split:])


def put_tail(container: CommentedMap, key: Any, text: str) -> None:
    """Write ``text`` (full comment lines) after entry ``key``."""
    if not text:
        return
    slot, at = _slot(container, key)
    token = slot[at]
    if isinstance(token, CommentToken):
        token.value = token.value + text
    else:
        slot[at] = CommentToken("\n" + text, CommentMark(0), None)


def reorder(node: CommentedMap, order: list[str], document: bool = False) -> bool:
    """Put ``node``'s keys in ``order`` (keys it does not name last, as written), each comment line in front
    of a key moving with it (but those at the top of a ``document``: they are the file's). Whether anything
    moved."""
    keys = list(node)
    rank = {k: i for i, k in enumerate(order)}
    wanted = sorted(keys, key=lambda k: rank.get(k, len(order)) if isinstance(k, str) else len(order))
    if wanted == keys:
        return False
    column = node.lc.col or 0
    for prev, key in itertools.pairwise(keys):
        _deeper_to_tail(node, prev, key, column)
    leading = {key: take_tail(node, prev, column) for prev, key in itertools.pairwise(keys)}
    start: list[CommentToken] = []
    if wanted[0] != keys[0] and not document:
        leading[keys[0]], start = _take_before(node)
    end = take_tail(node, keys[-1], column)
    first = leading.get(wanted[0], "")
    own = node.ca.items.get(wanted[0])
    if own is not None and own[1]:  # its own comment lines, now in front of the mapping's first key
        first += "".join(" " * _column(t) + t.value for t in own[1] if isinstance(t, CommentToken))
        own[1] = []
    for key in wanted:
        node.move_to_end(key)
    for prev, key in itertools.pairwise(wanted):
        put_tail(node, prev, leading.get(key, ""))
    if first and start:  # where the old first key's comment lines were written
        token: Any = start[0]  # ruamel types start_mark as a StreamMark; a comment's is a CommentMark
        token.value = first.lstrip(" ")
        token.start_mark = CommentMark(_indent(first))
    elif first:
        _put_before(node, wanted[0], first)
    put_tail(node, wanted[-1], end)
    return True


def _put_before(node: CommentedMap, key: Any, text: str) -> None:
    """Write ``text`` (full comment lines) in front of ``key``, now ``node``'s first key."""
    slot = node.ca.items.setdefault(key, [None, None, None, None])
    slot[1] = [
        CommentToken(line.lstrip(" "), CommentMark(_indent(line)), None) for line in text.splitlines(keepends=True)
    ]


def _column(token: CommentToken) -> int:
    mark = token.start_mark
    return int(mark.column) if mark is not None else 0


def _deeper_to_tail(node: CommentedMap, prev: Any, key: Any, column: int) -> None:
    """ruamel keeps the comment lines after a flow collection as the next key's own (its "pre" comments);
    those indented deeper than the keys end ``prev``'s block and stay with it."""
    slot = node.ca.items.get(key)
    pre = slot[1] if slot is not None else None
    if not pre:
        return
    deeper: list[CommentToken] = []
    while pre and isinstance(pre[0], CommentToken) and _column(pre[0]) > column:
        deeper.append(pre.pop(0))
    if deeper:
        put_tail(node, prev, "".join(" " * _column(t) + t.value for t in deeper))


def _take_before(node: CommentedMap) -> tuple[str, list[CommentToken]]:
    """Take the comment lines in front of ``node``'s first key: their text, and the (now empty) tokens that
    held them. ruamel keeps the same tokens in the mapping and in its parent's slot, so they are emptied in
    place, and the new first key's lines go back into them."""
    pre = node.ca.comment[1] if node.ca.comment is not None else None
    tokens = [t for t in pre or () if isinstance(t, CommentToken)]
    text = "".join(" " * _column(t) + t.value for t in tokens)
    for token in tokens:
        token.value = ""
    return text, tokens
