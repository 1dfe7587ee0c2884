"""One topological sort, for the lineage graph and the plan's action DAG alike.

Kahn's algorithm over positions: the caller passes its keys in the order that
breaks ties (node ids, action ids, sorted), and the edges as pairs of positions.
The heap holds ints, not keys: comparing tuples of strings was two thirds of the
lineage graph's sort at 100,000 nodes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import TypeVar

K = TypeVar("K")


def toposort(keys: Sequence[K], edges: Iterable[tuple[int, int]]) -> tuple[list[K], list[int]]:
    """``keys`` in an order where, for every edge ``(a, b)``, ``keys[a]`` comes before ``keys[b]``; of the
    keys ready at once, the earliest in ``keys`` first. Also the positions left over: those on or after a
    cycle (empty for a DAG)."""
    succ: list[list[int]] = [[] for _ in keys]
    indeg = [0] * len(keys)
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    ready = [i for i, d in enumerate(indeg) if d == 0]  # ascending: already a heap
    order: list[K] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(keys[i])
        for r in succ[i]:
            indeg[r] -= 1
            if indeg[r] == 0:
                heapq.heappush(ready, r)
    return order, [i for i, d in enumerate(indeg) if d > 0]
