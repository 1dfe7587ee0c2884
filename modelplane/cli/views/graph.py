"""How ``graph`` prints the lineage graph (or a selection): text, mermaid, Graphviz dot or JSON.

Edges read in the data's direction (``dataset/x --trains--> model/y``): ``compiler/report/graph.py`` labels them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelplane.cli.formats import GraphFormat
from modelplane.cli.views.shown import Shown, as_json, pick

if TYPE_CHECKING:
    from modelplane.workspace import GraphSelection


def _text(picked: GraphSelection) -> str:
    from modelplane.compiler.report import graph

    return graph.text(picked.graph, picked.nodes)


def _mermaid(picked: GraphSelection) -> str:
    from modelplane.compiler.report import graph

    return graph.mermaid(picked.graph, picked.nodes) + "\n"


def _dot(picked: GraphSelection) -> str:
    from modelplane.compiler.report import graph

    return graph.dot(picked.graph, picked.nodes) + "\n"


def _json(picked: GraphSelection) -> str:
    from modelplane.compiler.report import graph

    return as_json(graph.to_json(picked.graph, picked.nodes))


RENDER = {GraphFormat.text: _text, GraphFormat.mermaid: _mermaid, GraphFormat.dot: _dot, GraphFormat.json: _json}


def graph_view(picked: GraphSelection, fmt: GraphFormat) -> Shown:
    return pick(RENDER, fmt, picked)


def selection_warnings(warnings: list[str]) -> str:
    """A selection that matched nothing for a legitimate reason (nothing changed) still says so (stderr)."""
    return "".join(f"warning[selector-matches-nothing]: {w}\n" for w in warnings)
