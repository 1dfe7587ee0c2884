"""Run mypy on the package as it is imported (``modelplane.specs``, ``modelplane.compiler``, ...).

The pipeline folders sit at the repository root and are mapped into the
``modelplane`` package by setuptools; mypy cannot follow that mapping (nor the
editable-install import hook), so this builds a tree of symlinks with the
installed layout under build/typecheck and checks that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def subpackages() -> dict[str, str]:
    """``{subpackage: folder}`` from pyproject.toml's package-dir mapping (as setup.py reads it)."""
    mapping: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {name.removeprefix("modelplane."): folder for name, folder in mapping.items() if name != "modelplane"}


def build_tree() -> Path:
    tree = REPO / "build" / "typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    pkg = tree / "modelplane"
    pkg.mkdir(parents=True)
    for f in (REPO / "modelplane").iterdir():
        if f.suffix == ".py" or (f.is_dir() and f.name != "__pycache__"):
            (pkg / f.name).symlink_to(f, target_is_directory=f.is_dir())
    (pkg / "py.typed").touch()
    for sub, folder in subpackages().items():
        (pkg / sub).symlink_to(REPO / folder, target_is_directory=True)
    bench = tree / "benchmarks"
    bench.mkdir()
    for f in (REPO / "benchmarks").glob("*.py"):
        (bench / f.name).symlink_to(f)
    return tree


def main() -> int:
    tree = build_tree()
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(REPO / "pyproject.toml"),
        "modelplane",
        "benchmarks",
    ]
    env = {**os.environ, "MYPYPATH": str(tree)}
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout.replace(str(tree) + "/", ""))
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
