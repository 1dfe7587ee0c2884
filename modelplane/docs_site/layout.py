"""The overview's layout, computed once in Python so the browser only paints.

A layered drawing: a node's layer is its longest path from a root (data flows left to right), and
inside a layer nodes are ordered by the mean position of their parents (one barycentre sweep, which
keeps a domain's nodes together). A layer with more nodes than fit one column wraps into several
side by side, so 10,000 nodes make a roughly square picture rather than seven columns thousands of
rows tall. Linear in nodes and edges: no crossing minimisation beyond the sweep, and no graph is too
large for it (Dagster's dagre refuses above 10,000 nodes; this is what makes the overview never refuse).
"""

from __future__ import annotations

import math


def layered(order: list[int], parents: list[list[int]]) -> list[tuple[float, float]]:
    """(x, y) per node index. ``order``: the node indices in topological order; ``parents[i]``: the
    indices of node i's parents."""
    n = len(order)
    layer = [0] * n
    for i in order:
        for p in parents[i]:
            if layer[p] + 1 > layer[i]:
                layer[i] = layer[p] + 1
    by_layer: dict[int, list[int]] = {}
    for i in order:
        by_layer.setdefault(layer[i], []).append(i)
    rows = max(8, math.ceil(math.sqrt(n)))  # a column's height: about as many rows as there are columns in all
    rank = [0.0] * n
    pos: list[tuple[float, float]] = [(0.0, 0.0)] * n
    x0 = 0.0
    for depth in sorted(by_layer):
        members = by_layer[depth]
        if depth:  # order by the parents' mean rank; a stable sort keeps the id order between ties
            members.sort(key=lambda i: sum(rank[p] for p in parents[i]) / len(parents[i]) if parents[i] else 0.0)
        columns = max(1, math.ceil(len(members) / rows))
        height = math.ceil(len(members) / columns)
        for k, i in enumerate(members):
            col, row = divmod(k, height)
            rank[i] = k / max(1, len(members) - 1)
            pos[i] = (x0 + col, float(row) + (0.5 if col % 2 else 0.0))
        x0 += columns + 2  # a gap between layers
    return pos
