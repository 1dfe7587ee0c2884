"""A failing browser test leaves a screenshot of the page and names it in the report (conftest's hook).

The outer test runs pytest on the inner one in a child process, as CI would, with
``MODELPLANE_SCREENSHOT_DEMO`` set: only then does the inner test run (and fail on purpose).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.docs_site.conftest import chromium_path
from tests.pg_server import in_ci

pytestmark = pytest.mark.integration

DEMO = "MODELPLANE_SCREENSHOT_DEMO"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not os.environ.get(DEMO), reason="run by the test below only: it fails on purpose")
def test_fails_on_purpose(page: Any, tmp_path: Path) -> None:
    site = tmp_path / "index.html"
    site.write_text("<!doctype html><title>x</title><h1 id=h>the page as it was</h1>")
    page.goto(site.as_uri())
    assert page.locator("#h").inner_text() == "something else"


def test_a_failing_browser_test_leaves_a_screenshot(tmp_path: Path) -> None:
    if chromium_path() is None:
        why = "no chromium binary (apt-get install chromium, or set MODELPLANE_CHROMIUM)"
        if in_ci():  # as the browser fixture: CI installs it (.ci/run)
            pytest.fail(why)
        pytest.skip(why)
    shots = tmp_path / "shots"
    env = {**os.environ, DEMO: "1", "MODELPLANE_SCREENSHOTS": str(shots)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"{__file__}::test_fails_on_purpose"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # the inner test failed, as it should
    shot = shots / "test_fails_on_purpose.png"
    assert shot.is_file() and shot.read_bytes()[:8] == PNG and shot.stat().st_size > 1000
    assert f"the page when it failed: {shot}" in run.stdout
