"""A position is found by composing only the document asked about (``SourceMap._document``): it must be
the position composing the whole file gives, for every path of every document, in the layouts files take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modelplane.compiler.source.positions import SourceMap
from tests.conftest import EXAMPLES

LAYOUTS = {
    "content first": "kind: A\nmetadata: {name: a}\n---\nkind: B\nspec:\n  x: [1, 2, {y: 3}]\n",
    "marker first": "---\nkind: A\nspec:\n  list:\n    - a\n    - b: c\n---\nkind: B\n",
    "comments first": "# header\n# more\n---\nkind: A\n---\n# between\nkind: B\nspec: {a: 1}\n",
    "content on the marker line": "--- {kind: A, spec: {x: 1}}\n--- !!map\nkind: B\n",
    "block scalar with a marker-like line": "kind: A\nspec:\n  text: |\n    ---\n    not a marker\n---\nkind: B\n",
    "an empty document": "kind: A\n---\n---\nkind: C\nspec: {z: [1]}\n",
    "a trailing marker": "kind: A\nspec: {a: 1}\n---\n",
    "document end markers": "kind: A\n...\n---\nkind: B\nspec: {b: 2}\n",
    "a directive": "%YAML 1.1\n---\nkind: A\nspec: {a: 1}\n",
    "carriage returns": "kind: A\r\nspec:\r\n  a: 1\r\n---\r\nkind: B\r\n",
    "anchors": "kind: A\nbase: &b {x: 1}\nuse: *b\n---\nkind: B\nother: &c [1]\nagain: *c\n",
}


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                yield from _paths(v, (*prefix, k.value))
        yield (*prefix, "missing")
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _paths(v, (*prefix, i))
        yield (*prefix, len(node.value) + 1)


def _whole_file(text: str) -> SourceMap:
    """The positions as composing the whole file gives them (the way before documents were composed alone)."""
    sm = SourceMap("f.yaml", text)
    try:  # the safe loader, whole file: what every position came from before
        docs = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        docs = []
    sm._docs = docs
    sm._document = lambda index: (docs[index], 0) if index < len(docs) else None  # type: ignore[method-assign]
    return sm


def _compare(text: str) -> int:
    whole, alone = _whole_file(text), SourceMap("f.yaml", text)
    docs = whole._documents()
    assert docs or not text.strip()
    compared = 0
    for index in range(len(docs) + 1):
        for path in _paths(docs[index]) if index < len(docs) else [()]:
            for key in (False, True):
                assert alone.locate(index, path, key) == whole.locate(index, path, key), (index, path, key)
                compared += 1
    return compared


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_document_composed_alone_has_the_positions_of_the_whole_file(layout: str) -> None:
    assert _compare(LAYOUTS[layout]) > 0


def test_the_examples_positions_are_unchanged() -> None:
    files = sorted(EXAMPLES.rglob("*.yaml"))
    assert len(files) > 10
    assert sum(_compare(f.read_text()) for f in files) > 1000


def test_only_the_document_asked_about_is_composed() -> None:
    text = "".join(f"---\nkind: K{i}\nspec: {{n: {i}}}\n" for i in range(24))
    sm = SourceMap("f.yaml", text)
    assert sm.locate(7, ("spec", "n"))[:2] == (3 * 7 + 3, len("spec: {n: ") + 1)
    assert sm._docs is None and set(sm._one) == {7}  # the other 23 were never composed
