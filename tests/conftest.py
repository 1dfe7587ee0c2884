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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", default=False, help="rewrite tests/golden/* from current output"
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


GIT_ENV = {
    "GIT_AUTHOR_NAME": "modelplane-tests",
    "GIT_AUTHOR_EMAIL": "tests@modelplane.invalid",
    "GIT_COMMITTER_NAME": "modelplane-tests",
    "GIT_COMMITTER_EMAIL": "tests@modelplane.invalid",
    "GIT_AUTHOR_DATE": "2026-11-01T12:00:00Z",
    "GIT_COMMITTER_DATE": "2026-11-01T12:00:00Z",
}


class GitProject:
    """A copy of an example in a real git repository; commit edits to make history."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def git(self, *args: str) -> str:
        import os
        import subprocess

        env = {**os.environ, **GIT_ENV}
        return subprocess.run(["git", *args], cwd=self.root, env=env, check=True, capture_output=True, text=True).stdout

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1))

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


@pytest.fixture
def git_example(tmp_path: Path) -> Callable[[str], GitProject]:
    import shutil

    def make(name: str) -> GitProject:
        root = tmp_path / name
        shutil.copytree(EXAMPLES / name, root, ignore=shutil.ignore_patterns(".modelplane"))
        (root / ".gitignore").write_text(".modelplane/\n")
        gp = GitProject(root)
        gp.git("init", "-q", "-b", "main")
        gp.commit("base")
        return gp

    return make
