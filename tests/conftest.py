"""Shared fixtures: temporary spec projects written from inline files, and pristine examples.

Tests never read examples/ in the working tree: a session copy is taken from
the git index (what would be committed, without a developer's edits or the
`.modelplane/` caches a `make demo` leaves behind), or, outside a git checkout,
from the folder without its `.modelplane/` directories. Whatever a test writes
(caches, state) lands in that copy; `_examples_untouched` fails the run if the
real examples/ changed anyway.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg_server import PgDatabase, pg_db, pg_server  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
SOURCE_EXAMPLES = REPO / "examples"


def _in_git_checkout(root: Path) -> bool:
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return Path(top).resolve() == root


def pristine_examples(dest: Path) -> Path:
    """Copy examples/ as the git index holds it (or, without git, minus `.modelplane/`) under ``dest``."""
    if _in_git_checkout(REPO):
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "examples"], cwd=REPO, capture_output=True, check=True
        ).stdout
        subprocess.run(
            ["git", "checkout-index", "-z", "--stdin", f"--prefix={dest}{os.sep}"],
            cwd=REPO,
            input=listed,
            capture_output=True,
            check=True,
        )
    else:
        shutil.copytree(SOURCE_EXAMPLES, dest / "examples", ignore=shutil.ignore_patterns(".modelplane"))
    return dest / "examples"


_SESSION_DIR = Path(tempfile.mkdtemp(prefix="modelplane-examples-"))
atexit.register(shutil.rmtree, _SESSION_DIR, True)
EXAMPLES = pristine_examples(_SESSION_DIR)
"""The examples every test reads: a pristine session copy, never the working tree."""

MINIMAL_PROJECT = "name: demo\nspecs: ['specs/**/*.yaml']\nenvironments:\n  dev:\n    variables: {stack: local}\n"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file (size, mtime) and folder (a name only: their mtimes move with any listing change) under root."""
    out: dict[str, tuple[int, int]] = {}
    for p in root.rglob("*"):
        rel = str(p.relative_to(root))
        if p.is_dir():
            out[rel + os.sep] = (0, 0)
        else:
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="session", autouse=True)
def _examples_untouched() -> Iterator[None]:
    """The run must not write into the real examples/ (caches, state, edits): it fails at the end if it did."""
    before = _snapshot(SOURCE_EXAMPLES)
    yield
    after = _snapshot(SOURCE_EXAMPLES)
    added = sorted(set(after) - set(before))
    changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
    assert not added and not changed, (
        f"tests wrote into {SOURCE_EXAMPLES}: added {added[:10]}, changed {changed[:10]}; "
        "read examples through tests.conftest.EXAMPLES (a pristine copy) instead"
    )


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


# fixtures that start a real server process: a test using one is an integration test wherever its file is
# (the `integration` marker's meaning), so `make test-fast` (-m "not integration") stays process-free
_PROCESS_FIXTURES = frozenset({"pg_db", "pg_server"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and "postgres" in callspec.params.values()  # the `store` fixture
        if on_postgres or _PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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


# -- state stores: a real PostgreSQL server (tests/pg_server.py), and ``store`` on both backends ----------

BACKENDS = ["sqlite", "postgres"]


def open_backend(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if backend == "sqlite":
        from modelplane.runtime.state.sqlite import StateStore

        return StateStore(tmp_path / "s.db")
    from modelplane.runtime.state.postgres import PostgresStore

    db: PgDatabase = request.getfixturevalue("pg_db")
    return PostgresStore(db.url, db.password)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty state store: SQLite in a temporary file, or a fresh PostgreSQL database."""
    s = open_backend(request.param, request, tmp_path)
    yield s
    s.close()


MODELINE = "# yaml-language-server:"


def strip_modelines(root: Path) -> None:
    """Drop the editor modeline (the first line of each example file) from a copied project, for tests that
    name spec lines as the documents themselves number them."""
    for f in root.rglob("*.yaml"):
        text = f.read_text()
        if text.startswith(MODELINE):
            f.write_text(text.split("\n", 1)[1])
