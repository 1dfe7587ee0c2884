"""Positions read off a plain block document's lines (``block_positions``) must be the composer's, for every
path of every document; a document outside the subset must be left to the composer, never guessed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from modelplane.compiler.source.block_positions import BlockDoc
from modelplane.compiler.source.positions import SourceMap, text_lines
from tests.compiler.test_positions_one_document import _compare
from tests.conftest import EXAMPLES, REPO

READ = {
    "nested mappings": "kind: A\nmetadata:\n  name: a\n  owner: t\nspec:\n  x: 1\n  deep:\n    deeper:\n      v: yes\n",
    "flow values": "kind: A\nspec:\n  args: {a: 1, b: [2, 3]}\n  list: [x, y]\n  after: 4\n",
    "quoted scalars": 'kind: A\nspec:\n  a: "one two"\n  b: \'three\'\n  c: ""\n  d: "x"  # note\n',
    "comments and blank lines": "# head\n\nkind: A   # trailing\nspec:   # a comment\n\n  # inside\n  a: b # c\n  u: a#b\n",
    "marker first": "---\nkind: A\nspec:\n  a: 1\n---\nkind: B\nspec:\n  b:\n    c: 2\n",
    "duplicate keys": "kind: A\nspec:\n  a: 1\n  a: 2\n  b:\n    c: 1\n  b: 3\n",
    "trailing spaces": "kind: A   \nspec:  \n  a: 1   \n  url: s3://x/y/\n",
    "an indented root": "  kind: A\n  spec:\n    a: 1\n",
}

LEFT_TO_THE_COMPOSER = {
    "a sequence": "kind: A\nspec:\n  items:\n    - a\n    - b\n",
    "a sequence at its key's indent": "kind: A\nspec:\n  items:\n  - a\n  - b\n",
    "a block scalar": "kind: A\nspec:\n  text: |\n    hello\n",
    "a continued plain scalar": "kind: A\nspec:\n  text: one\n    two\n",
    "an empty value": "kind: A\nspec:\n  a:\n  b: 1\n",
    "an empty value last": "kind: A\nspec:\n",
    "an anchor and alias": "kind: A\nbase: &b 1\nuse: *b\n",
    "a tag": "kind: A\nspec: !!map\n  a: 1\n",
    "a quoted key": 'kind: A\n"spec": {a: 1}\n',
    "a complex key": "kind: A\n? spec\n: 1\n",
    "a tab": "kind: A\nspec:\n  a:\t1\n",
    "non-ASCII": "kind: A\nspec:\n  a: é\n",
    "an escaped quote": 'kind: A\nspec:\n  a: "x\\"y"\n',
    "a doubled single quote": "kind: A\nspec:\n  a: 'it''s'\n",
    "a flow over two lines": "kind: A\nspec: {a: 1,\n  b: 2}\n",
    "a mapping value in a plain scalar": "kind: A\nspec:\n  a: b: c\n",
    "a bad indent": "kind: A\nspec:\n    a: 1\n  b: 2\n",
    "content on the marker line": "--- {kind: A}\n",
    "a key without a space": "kind: A\nspec:\n  a:1\n",
    "a negative number": "kind: A\nspec:\n  a: -1\n",
}


def _block(text: str) -> BlockDoc | None:
    return BlockDoc.parse(text_lines(text))


@pytest.mark.parametrize("layout", sorted(READ))
def test_a_plain_block_document_is_read_with_the_composers_positions(layout: str) -> None:
    text = READ[layout]
    assert _compare(text) > 0  # every path, key and value: the whole file composed vs this
    sm = SourceMap("f.yaml", text)
    assert sm.locate(0, ("kind",)) is not None
    assert sm._block(0) is not None  # read off the lines, not composed
    if layout != "flow values":  # its paths into flow collections are composed, as they must be
        assert sm._docs is None and not sm._one


@pytest.mark.parametrize("layout", sorted(LEFT_TO_THE_COMPOSER))
def test_anything_else_is_left_to_the_composer(layout: str) -> None:
    text = LEFT_TO_THE_COMPOSER[layout]
    sm = SourceMap("f.yaml", text)
    assert sm._block(0) is None
    try:
        composed = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        return  # not YAML at all: the composer's answer (the document's start) stands
    if composed:
        assert _compare(text) > 0


def test_a_walk_into_a_flow_collection_is_composed() -> None:
    text = "kind: A\nspec:\n  args: {a: 1}\n"
    doc = _block(text)
    assert doc is not None
    assert doc.locate(("spec", "args")) == (2, 8, 1)
    assert doc.locate(("spec", "args", "a")) is None
    assert SourceMap("f.yaml", text).locate(0, ("spec", "args", "a")) == (3, 13, 1)


def test_the_generated_projects_documents_are_read_and_unchanged(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gen_specs
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    gen_specs.generate(tmp_path, 300)
    files = sorted(tmp_path.rglob("*.yaml"))
    assert sum(_compare(f.read_text()) for f in files) > 1000
    read = composed = 0
    for f in files:
        sm = SourceMap(str(f), f.read_text())
        starts = sm._starts()
        assert starts is not None
        for index in range(len(starts)):
            if sm._block(index) is not None:
                read += 1
            else:
                composed += 1
    # every endpoint (the documents a no-profile warning points into) is read off its lines
    endpoints = sum(f.read_text().count("kind: Endpoint") for f in files)
    assert endpoints > 0 and read >= endpoints


def test_the_examples_documents_are_mostly_read() -> None:
    """The examples mix every style; the subset covers a good part of their documents (a check that the fast
    path is taken on real specs, not only on the generator's)."""
    read = total = 0
    for f in sorted(EXAMPLES.rglob("*.yaml")):
        sm = SourceMap(str(f), f.read_text())
        starts = sm._starts()
        for index in range(len(starts or [])):
            total += 1
            read += sm._block(index) is not None
    assert total > 10 and read > 0
    # and the positions are the composer's (here as in test_positions_one_document, which now reads them too)
    assert sum(_compare(f.read_text()) for f in sorted(EXAMPLES.rglob("*.yaml"))) > 1000


@pytest.mark.parametrize(
    "text",
    [
        "---\nkind: A\n---\nkind: B\n",
        "kind: A\n---\n---\n----x\nkind: B\n---",
        "# c\n---\nkind: A\n  ---\n",
        "kind: A\r\n---\r\nkind: B\r\n",
        "kind: \u00e9\u2028---\nkind: B\n",
        "%YAML 1.1\n---\nkind: A\n",
        "kind: A\n...\n---\nkind: B\n",
        "",
    ],
)
def test_document_markers_are_the_lines_that_start_with_three_dashes(text: str) -> None:
    """The markers are found by searching the text, not scanning its lines: the same lines either way."""
    sm = SourceMap("f.yaml", text)
    lines = text.splitlines()
    assert sm._document_markers()[0] == [i for i, line in enumerate(lines) if line.startswith("---")]
    plain = not any(c in text for c in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") and not any(
        line.startswith(("%", "...")) for line in lines
    )
    assert (sm._starts() is not None) == plain
