"""The one topological sort: dependencies first, ties in the caller's key order, cycles reported."""

from __future__ import annotations

from modelplane.compiler.graph.toposort import toposort


def test_dependencies_come_first_and_ties_keep_the_key_order() -> None:
    keys = ["a", "b", "c", "d"]
    order, stuck = toposort(keys, [(3, 0), (2, 1)])  # d before a, c before b
    assert order == ["c", "b", "d", "a"] and stuck == []
    assert toposort(keys, [])[0] == keys  # nothing to order: the keys as given


def test_a_cycle_leaves_its_nodes_and_what_follows_them() -> None:
    order, stuck = toposort(["x", "y", "z", "w"], [(0, 1), (1, 0), (1, 2)])  # x <-> y, then z
    assert order == ["w"] and stuck == [0, 1, 2]


def test_parallel_edges_count_once_each_way() -> None:
    assert toposort(["p", "q"], [(1, 0), (1, 0)]) == (["q", "p"], [])
