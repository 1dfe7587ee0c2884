"""Fingerprints per node: its own spec, its metadata, and its parents' fingerprints.

With all three a diff tells apart a node that changed itself, one that changed
only upstream, and a metadata-only change (owner, description, labels).
"""

from __future__ import annotations

import hashlib
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from pydantic_core import ValidationError

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.load.specset import SpecNode
from modelplane.compiler.timings import timed
from modelplane.specs.base import API_VERSION, NodeId

if TYPE_CHECKING:
    from pydantic import BaseModel


class Fingerprint(NamedTuple):
    """A node's three hashes (a tuple: built 10,000 times a plan, in C rather than a dataclass's ``__init__``)."""

    spec: str
    """Hash of apiVersion, kind and spec, normalized (a default written out is no change)."""
    meta: str
    """Hash of metadata."""
    full: str
    """Hash of spec, metadata and every parent's full fingerprint."""


def content_hash(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


Own = tuple[str, str]
"""A document's own hashes: (apiVersion, kind and spec; metadata)."""


def serialized(model: BaseModel) -> tuple[bytes, Own]:
    """A validated document's normalized JSON and its own hashes, from one serialization.

    The hashes are of the serializer's bytes, not of the parsed value dumped again (that
    was a third of the time of fingerprinting a 10,000-node graph): the bytes are canonical
    because a model writes its fields in declaration order and keeps every free-form map
    in key order (``specs.base.InKeyOrder``). The spec hash leaves out apiVersion (there is
    one) and kind (a node's kind is part of its id, and only a node's own hashes are compared).
    """
    # normalized_json's serialization, called directly: this runs for every document parsed
    blob: bytes = model.__pydantic_serializer__.to_json(model, by_alias=True)
    at = _META_AT.get(model.kind) or _meta_at(model.kind)  # type: ignore[attr-defined]
    # the document is {apiVersion, kind, metadata, spec} in that order (StrictModel forbids more),
    # and the metadata ends at the first `},"spec":`: its values are text and one flat map of
    # text, so no `}` precedes a key inside it, and a quote inside text is escaped
    end = blob.find(_META_END, at)
    if end < 0 or not blob.startswith(b'{"name":', at):
        raise AssertionError(f"unexpected layout of a serialized {model.kind} document")  # type: ignore[attr-defined]
    blake2b = hashlib.blake2b
    view = memoryview(blob)
    return blob, (
        blake2b(view[end + len(_META_END) - 1 : -1], digest_size=12).hexdigest(),
        blake2b(view[at : end + 1], digest_size=12).hexdigest(),
    )


_META_END = b'},"spec":{'
_META_AT: dict[str, int] = {}


def _meta_at(kind: str) -> int:
    """Where a serialized document of ``kind`` has its metadata."""
    _META_AT[kind] = len(b'{"apiVersion":"%s","kind":"%s","metadata":' % (API_VERSION.encode(), kind.encode()))
    return _META_AT[kind]


def kind_and_name(blob: bytes) -> tuple[str, str]:
    """The kind and name of a document serialized by ``serialized``, read off its layout
    (``{"apiVersion":..,"kind":"K","metadata":{"name":"N",..``) without parsing it: both are
    validated plain words, never escaped."""
    start = blob.index(b'"kind":"') + 8
    end = blob.index(b'"', start)
    kind = blob[start:end].decode()
    at = _META_AT.get(kind) or _meta_at(kind)
    if not blob.startswith(b'{"name":"', at):
        raise AssertionError(f"unexpected layout of a serialized {kind} document")
    return kind, blob[at + 9 : blob.index(b'"', at + 9)].decode()


def own_of(node: SpecNode) -> Own:
    """A node's own hashes: as the loader, a cache or the state recorded them, or computed now."""
    if node.own is None:
        try:
            node.own = serialized(node.model)[1]
        except (ValidationError, KeyError):
            # a recorded document the current models reject (or of a kind they do not know):
            # it equals no head document, and only needs a stable hash of its own
            node.own = (
                "~" + content_hash([node.data.get("apiVersion"), node.kind, node.data.get("spec")])[1:],
                "~" + content_hash(node.data.get("metadata"))[1:],
            )
    return node.own


@timed("fingerprints")
def fingerprints(
    graph: LineageGraph,
    *,
    only: set[NodeId] | None = None,
    known: dict[NodeId, Fingerprint] | None = None,
) -> dict[NodeId, Fingerprint]:
    """Fingerprints of every node.

    ``only`` computes just these nodes (closed under downstream), taking every
    other node's from ``known``.
    """
    out: dict[NodeId, Fingerprint] = dict(known or {})
    nodes = graph.nodes
    in_edges = graph.in_edges
    blake2b = hashlib.blake2b
    new = tuple.__new__  # a NamedTuple's own __new__ is a Python function: ~10% of this loop
    for nid in graph.topo_order(only):
        node = nodes[nid]
        spec, meta = node.own or own_of(node)
        edges = in_edges(nid)
        # parents in id order, each once (in-edges are sorted by source); most nodes have none or one
        if not edges:
            text = spec + meta
        elif len(edges) == 1:
            text = f"{spec}{meta}{out[edges[0].source].full}"
        else:
            text = f"{spec}{meta}{''.join([out[p].full for p in dict.fromkeys(map(_SOURCE, edges))])}"
        out[nid] = new(Fingerprint, (spec, meta, blake2b(text.encode(), digest_size=12).hexdigest()))
    return out


_SOURCE = attrgetter("source")
