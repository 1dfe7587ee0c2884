"""Derives the package list from ``[tool.setuptools.package-dir]`` in pyproject.toml.

The source folders sit at the repository root and install under ``modelplane.``
(``compiler/`` -> ``modelplane.compiler``). setuptools' ``packages.find`` cannot
rename what it finds, so a hand-kept list was the alternative, and it once left
out ``modelplane.runtime.local``, ``modelplane.runtime.executors`` and the report
templates. Here every folder under a mapped root is a package (namespace
packages included, so template folders ship their data files without the
"Package would be ignored" warning); everything else stays in pyproject.toml.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent


def mapped_packages() -> list[str]:
    config = tomllib.loads((HERE / "pyproject.toml").read_text())
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    packages = []
    for name, folder in package_dir.items():
        packages.append(name)
        found = find_namespace_packages(where=str(HERE / folder), exclude=["__pycache__", "*.__pycache__"])
        packages += [f"{name}.{sub}" for sub in found]
    return sorted(packages)


setup(packages=mapped_packages())
