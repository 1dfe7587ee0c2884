"""A real Chromium (Debian's `chromium` package) driven by Playwright's Python API, for the explorer's tests.

Never a browser download (`playwright install`): the package's binary at /usr/bin/chromium, or
$MODELPLANE_CHROMIUM. Without it the browser tests skip locally, saying why, and fail under CI=true
(.ci/run installs it), as the PostgreSQL tests do. A failing browser test leaves a screenshot of the
page in $MODELPLANE_SCREENSHOTS (default build/screenshots/) and names it in the report.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.pg_server import in_ci

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return os.environ.get("MODELPLANE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        page = getattr(item, "_explorer_page", None)
        if page is not None:
            folder = Path(os.environ.get("MODELPLANE_SCREENSHOTS", REPO / "build" / "screenshots"))
            folder.mkdir(parents=True, exist_ok=True)
            shot = folder / f"{item.name}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                report.sections.append(("screenshot", f"the page when it failed: {shot}"))
            except Exception as exc:  # the page may be what broke; the failure itself matters more
                report.sections.append(("screenshot", f"no screenshot: {exc}"))


@pytest.fixture(scope="module")  # not the session: Playwright's sync API holds an event loop on the main thread
def browser() -> Iterator[Any]:  # while it runs, and every async test after it would fail to start its own
    exe = chromium_path()
    why = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "the `playwright` Python package is not installed (pip install -e '.[dev]')"
    if why is None and exe is None:
        why = "no chromium binary (apt-get install chromium, or set MODELPLANE_CHROMIUM)"
    if why is not None:
        if in_ci():  # CI installs chromium (.ci/run): a missing browser there is a failure, never a skip
            pytest.fail(f"the browser tests cannot run: {why}")
        pytest.skip(why)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    request.node._explorer_page = pg
    try:
        yield pg
        assert errors == [], f"the page threw: {errors}"
    finally:
        context.close()


def open_site(page: Any, site: Path, fragment: str = "") -> None:
    """Open the written site from disk (file://, no server) and wait until it painted and has its details."""
    page.goto((site / "index.html").resolve().as_uri() + fragment)
    page.wait_for_function("window.MP && MP.ready && MP.detailsLoaded === true", timeout=20_000)
