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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["specs", "compiler", "runtime", "stacks", "templates"]


def build_tree() -> Path:
    tree = REPO / "build" / "typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    pkg = tree / "modelplane"
    pkg.mkdir(parents=True)
    for f in (REPO / "modelplane").glob("*.py"):
        (pkg / f.name).symlink_to(f)
    (pkg / "py.typed").touch()
    for sub in SUBPACKAGES:
        (pkg / sub).symlink_to(REPO / sub, target_is_directory=True)
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
