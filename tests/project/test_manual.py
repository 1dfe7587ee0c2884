"""The manual: the README is a short front door whose links resolve, and the docs site (mkdocs.yml, docs/)
builds with ``--strict``, so a broken link or anchor, or a page left out of the nav, fails the build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

README = REPO / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_a_front_door_under_250_lines() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 250
    for section in ("## Install", "## Quick start", "## Commands", "## Read more"):
        assert section in text, section
    # the two commands a newcomer needs, and a tour of the main ones
    assert "make demo" in text and "make test" in text
    for command in ("validate", "graph", "plan", "apply", "status", "load", "approve", "down", "lsp", "docs generate"):
        assert f"`modelplane {command}" in text or f"/ `{command}" in text, command


def test_every_relative_link_of_the_readme_resolves() -> None:
    # mkdocs checks the pages in docs/; the README is outside its docs_dir, so its links are checked here
    text = README.read_text()
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (REPO / path).exists(), f"README.md links {target}, which does not exist"
            if anchor:
                page = (REPO / path).read_text()
                assert anchor in {_slug(h) for h in re.findall(r"^#+ (.+)$", page, flags=re.M)}, target
        else:
            assert anchor in anchors, f"README.md links #{anchor}, no such heading"


def test_the_site_builds_strictly_and_a_broken_link_fails_it(tmp_path: Path) -> None:
    """One build of a copy of the site with one broken link and one broken anchor added: it must fail
    naming exactly those two, so the real pages have no warning and the validation is on."""
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    with (tmp_path / "docs" / "speed.md").open("a") as page:
        page.write("\nSee [a page that is not there](missing.md) and [a heading](plans.md#no-such-heading).\n")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert done.returncode != 0, done.stderr
    assert len(warnings) == 2, "\n".join(warnings)
    assert "'missing.md'" in warnings[0] + warnings[1] and "#no-such-heading" in warnings[0] + warnings[1], warnings


def _slug(heading: str) -> str:
    """The anchor GitHub and mkdocs' toc give a heading (lower case, punctuation dropped, spaces as dashes)."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"\s+", "-", text)
