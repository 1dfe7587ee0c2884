"""The lineage explorer at 10,000 nodes: how long the site takes to write, and in Chromium how fast it
paints the focused neighbourhood, answers a keystroke in the search box, re-focuses and paints the overview.

    python benchmarks/bench_docs.py [--nodes 10000] [--project DIR] [--chromium /usr/bin/chromium]

Generates the project with gen_specs.py (unless --project), writes the site twice (cold caches, then
warm, as a re-run after an edit is), then drives Debian's chromium with Playwright (never a browser
download). Browser figures are measured in the page (performance.now()), from navigation start for the
first paint and around each action otherwise; CPU time is printed beside wall time because a shared
machine's load inflates wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

KEYSTROKES = ["grammar", "team-7", "user_id", "d12-feat", "kind:endpoint", "owner:team-3*", "+model/d3-model-0"]


def write_site(project: Path, out: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of `modelplane docs generate` in a fresh process, as a user runs it."""
    start, cpu0 = time.perf_counter(), os.times()
    proc = subprocess.run(
        [sys.executable, "-m", "modelplane", "docs", "generate", "-C", str(project), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    wall, cpu1 = time.perf_counter() - start, os.times()
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return wall, (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)


def browse(site: Path, chromium: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    figures: dict[str, float] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 850})
        page.goto((site / "index.html").as_uri())
        page.wait_for_function("window.MP && MP.painted", timeout=60_000)
        figures["first paint of the focused neighbourhood (ms after navigation start)"] = page.evaluate("MP.painted")
        page.wait_for_function("MP.detailsLoaded === true", timeout=60_000)
        per_key = []
        for word in KEYSTROKES:
            for i in range(1, len(word) + 1):
                per_key.append(page.evaluate("(q) => MP.search(q)", word[:i]))
        figures["search, per keystroke: median (ms)"] = statistics.median(per_key)
        figures["search, per keystroke: max (ms)"] = max(per_key)
        ids = page.evaluate("MP.select('kind:model kind:endpoint dataset/core-0 kind:feature').ids")
        refocus = []
        for nid in [*ids[:: max(1, len(ids) // 25)], "dataset/core-0"]:
            refocus.append(
                page.evaluate(
                    """(id) => new Promise((done) => { const t0 = performance.now(); MP.focus(id, 2);
                       requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0))); })""",
                    nid,
                )
            )
        figures["re-focus, to the next frame: median (ms)"] = statistics.median(refocus)
        figures["re-focus, to the next frame: max (ms)"] = max(refocus)
        overview = page.evaluate(
            """() => new Promise((done) => {
                 let longest = 0;
                 const obs = new PerformanceObserver((l) => l.getEntries().forEach((e) => longest = Math.max(longest, e.duration)));
                 try { obs.observe({ entryTypes: ["longtask"] }); } catch (e) {}
                 const t0 = performance.now();
                 document.getElementById("show-overview").click();
                 requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => {
                   obs.disconnect(); done([performance.now() - t0, MP.timings.overview, MP.overviewPainted, longest]); }, 50)));
               })"""
        )
        figures["overview: click to painted frame (ms)"] = overview[0]
        figures["overview: paint itself (ms)"] = overview[1]
        figures["overview: nodes painted"] = overview[2]
        figures["overview: longest main-thread task (ms)"] = overview[3]
        browser.close()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--project", type=Path, help="an existing project instead of a generated one")
    ap.add_argument("--chromium", default=os.environ.get("MODELPLANE_CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = args.project
        if project is None:
            project = Path(tmp) / "project"
            subprocess.run(
                [sys.executable, str(HERE / "gen_specs.py"), "--nodes", str(args.nodes), "--out", str(project)],
                check=True,
                capture_output=True,
            )
        site = Path(tmp) / "site"
        cold = write_site(project, site)
        warm = write_site(project, site)
        print(f"project: {project} ({args.nodes} nodes requested)")
        print(f"write the site, cold caches: {cold[0]:.2f} s wall, {cold[1]:.2f} s CPU")
        print(f"write the site, warm:        {warm[0]:.2f} s wall, {warm[1]:.2f} s CPU   (target <= 3 s)")
        size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
        print(f"site size: {size / 1e6:.1f} MB")
        if not Path(args.chromium).exists():
            raise SystemExit(f"no chromium at {args.chromium}: apt-get install chromium, or pass --chromium")
        for name, value in browse(site, args.chromium).items():
            print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
        print("targets: first paint <= 1000 ms, keystroke <= 100 ms, re-focus <= 200 ms, overview without freezing")


if __name__ == "__main__":
    main()
