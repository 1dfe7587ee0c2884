"""The compiler's product: a checked lineage graph with its fingerprints and warnings.

Its own module so the caches that store and rebuild it (``graph_cache``, ``overlay``) need not import
``compile``, which calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelplane.compiler.graph.fingerprint import Fingerprint
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.load.specset import SpecSet
from modelplane.errors import Diagnostic
from modelplane.specs.base import NodeId


@dataclass
class Compiled:
    """A compiled spec set: its lineage graph, every node's fingerprint, and what the graph rules found."""

    graph: LineageGraph
    fingerprints: dict[NodeId, Fingerprint]
    warnings: list[Diagnostic]
    errors: list[Diagnostic]
    """Graph-rule errors; only non-empty when compiled with ``strict=False``."""

    @property
    def specs(self) -> SpecSet:
        return self.graph.specs
