"""Shared fixtures: temporary spec projects written from inline files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

MINIMAL_PROJECT = "name: demo\nspecs: ['specs/**/*.yaml']\nenvironments:\n  dev:\n    variables: {stack: local}\n"


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a project: ``make_project({"specs/a.yaml": "..."}, project=...)`` -> its root."""

    def make(files: dict[str, str | bytes], project: str = MINIMAL_PROJECT) -> Path:
        root = tmp_path / "proj"
        root.mkdir(exist_ok=True)
        (root / "modelplane.yaml").write_text(project)
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"))
        return root

    return make
