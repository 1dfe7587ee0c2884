"""List the modules over 400 lines and the functions over 60 (docs/architecture.md names each, with why).

Counts the package's source (the folders pyproject.toml maps into ``modelplane``) and the tools; tests and
benchmarks are not counted. A function's length runs from its ``def`` to its last line, decorators aside;
a module-level data literal is not a function. Run: ``python tools/sizes.py``.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE_LIMIT = 400
FUNCTION_LIMIT = 60


def source_files() -> list[Path]:
    mapping: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    files = [p for folder in sorted(set(mapping.values())) for p in sorted((REPO / folder).rglob("*.py"))]
    return files + sorted((REPO / "tools").glob("*.py"))


def oversized() -> list[tuple[str, int]]:
    """``(name, lines)``: ``compiler/load/loader.py`` for a module, ``compiler/load/loader.py:_load_file``
    (methods as ``Class.method``) for a function."""
    found: list[tuple[str, int]] = []
    for path in source_files():
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text()
        lines = text.count("\n")
        if lines > MODULE_LIMIT:
            found.append((rel, lines))
        tree = ast.parse(text)
        for node, owner in _functions(tree):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LIMIT:
                found.append((f"{rel}:{owner}{node.name}", length))
    return found


def _functions(tree: ast.AST, owner: str = "") -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    out: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((node, owner))  # nested functions count within their parent
        elif isinstance(node, ast.ClassDef):
            out += _functions(node, f"{owner}{node.name}.")
    return out


def main() -> int:
    for name, lines in oversized():
        print(f"{lines:5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
