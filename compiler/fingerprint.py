"""Fingerprints per node: its own spec, its metadata, and its parents' fingerprints.

With all three a diff tells apart a node that changed itself, one that changed
only upstream, and a metadata-only change (owner, description, labels).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from modelplane.compiler.graph import LineageGraph
from modelplane.compiler.timings import timed
from modelplane.specs.base import NodeId


@dataclass(frozen=True, slots=True)
class Fingerprint:
    spec: str
    """Hash of apiVersion, kind and spec, normalized (a default written out is no change)."""
    meta: str
    """Hash of metadata."""
    full: str
    """Hash of spec, metadata and every parent's full fingerprint."""


def content_hash(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def own_hashes(data: dict[str, Any]) -> tuple[str, str]:
    """(spec, meta) hashes of one document."""
    return content_hash([data["apiVersion"], data["kind"], data["spec"]]), content_hash(data["metadata"])


def own_of(data: dict[str, Any], memo: dict[int, tuple[str, str]]) -> tuple[str, str]:
    """``own_hashes`` of a document, through ``memo`` (keyed by the document's identity)."""
    own = memo.get(id(data))
    if own is None:
        own = memo[id(data)] = own_hashes(data)
    return own


@timed("fingerprints")
def fingerprints(
    graph: LineageGraph,
    memo: dict[int, tuple[str, str]] | None = None,
    *,
    only: set[NodeId] | None = None,
    known: dict[NodeId, Fingerprint] | None = None,
) -> dict[NodeId, Fingerprint]:
    """Fingerprints of every node.

    ``memo`` maps ``id(document)`` to its (spec, meta) hashes; a caller that
    keeps two graphs alive which share documents (head and base of a plan)
    passes one memo to both so each shared document is hashed once.
    ``only`` computes just these nodes (closed under downstream), taking every
    other node's from ``known``.
    """
    out: dict[NodeId, Fingerprint] = dict(known or {})
    memo = {} if memo is None else memo
    for nid in graph.topo_order(only):
        spec, meta = own_of(graph.nodes[nid].data, memo)
        h = hashlib.blake2b(f"{spec}{meta}".encode(), digest_size=12)
        for parent in graph.parents(nid):
            h.update(out[parent].full.encode())
        out[nid] = Fingerprint(spec, meta, h.hexdigest())
    return out
