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
from modelplane.specs.base import NodeId


@dataclass(frozen=True, slots=True)
class Fingerprint:
    spec: str
    """Hash of apiVersion, kind and spec as written."""
    meta: str
    """Hash of metadata."""
    full: str
    """Hash of spec, metadata and every parent's full fingerprint."""


def content_hash(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def fingerprints(graph: LineageGraph) -> dict[NodeId, Fingerprint]:
    out: dict[NodeId, Fingerprint] = {}
    for nid in graph.topo_order():
        data = graph.nodes[nid].data
        spec = content_hash([data.get("apiVersion"), data["kind"], data.get("spec")])
        meta = content_hash(data["metadata"])
        h = hashlib.blake2b(f"{spec}{meta}".encode(), digest_size=12)
        for parent in graph.parents(nid):
            h.update(out[parent].full.encode())
        out[nid] = Fingerprint(spec, meta, h.hexdigest())
    return out
