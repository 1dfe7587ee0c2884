"""The project's modules import each other without circles, and in the direction docs/architecture.md gives.

The graph is built from the source, not from what an interpreter happened to import: every ``import`` and
``from ... import`` in every module (function-level and ``TYPE_CHECKING`` ones included, since a circle
through a deferred import is still two modules that each need the other), with the package-dir mapping of
pyproject.toml resolved, so ``compiler/graph/lineage.py`` is ``modelplane.compiler.graph.lineage``.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import networkx as nx

from tests.conftest import REPO


def _modules() -> dict[str, Path]:
    mapping: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    found: dict[str, Path] = {}
    for package, folder in mapping.items():
        root = REPO / folder
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        owners = [_owning(alias.name, modules) for alias in node.names]
        return [owner for owner in owners if owner]
    if node.level:
        package = name if _is_package(path) else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    out = []
    for alias in node.names:
        # `from pkg import sub` imports the submodule when there is one, else a name from pkg itself
        target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _owning(base, modules)
        if target:
            out.append(target)
    return out


def _owning(dotted: str, modules: dict[str, Path]) -> str:
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted


def import_graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(name, path, node, modules):
                    if target != name:
                        graph.add_edge(name, target)
                        graph.edges[name, target].setdefault("lines", []).append(node.lineno)
    return graph


def test_the_walk_finds_the_mapped_packages() -> None:
    graph = import_graph()
    for module in (
        "modelplane.compiler.compile",
        "modelplane.runtime.temporal.workflows",
        "modelplane.runtime.local.router",
        "modelplane.specs.serving",
        "modelplane.stacks.render",
    ):
        assert module in graph, module
    assert graph.has_edge("modelplane.runtime.temporal.workflows", "modelplane.runtime.temporal.messages")


def test_no_import_circles() -> None:
    graph = import_graph()
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    described = []
    for circle in circles:
        sub = graph.subgraph(circle)
        edges = ", ".join(f"{a} -> {b} (line {sub.edges[a, b]['lines'][0]})" for a, b in sorted(sub.edges))
        described.append(edges)
    assert not circles, "import circles:\n" + "\n".join(described)


def test_the_compiler_and_specs_never_import_the_runtime_or_the_cli() -> None:
    graph = import_graph()
    outward = ("modelplane.runtime", "modelplane.cli", "modelplane.stacks.components", "modelplane.stacks.eks")
    wrong = [
        (a, b)
        for a, b in graph.edges
        if a.startswith(("modelplane.compiler", "modelplane.specs")) and b.startswith(outward)
    ]
    assert not wrong, wrong


def test_errors_and_files_are_the_floor() -> None:
    """`modelplane/errors.py` and `modelplane/files.py` are imported by every layer, so they import nothing of ours."""
    graph = import_graph()
    floor = ("modelplane.errors", "modelplane.files")
    wrong = [(a, b) for a, b in graph.edges if a in floor and b.startswith("modelplane")]
    assert not wrong, wrong
    assert {"modelplane.compiler.load.loader", "modelplane.runtime.temporal.activities"} <= {
        a for a, b in graph.edges if b == "modelplane.errors"
    }
