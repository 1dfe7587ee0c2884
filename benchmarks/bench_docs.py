"""The lineage explorer at 10,000 nodes: how long the site takes to write, and in Chromium how fast it
paints the focused neighbourhood, answers a keystroke in the search box, re-focuses and paints the overview.

    python benchmarks/bench_docs.py [--nodes 10000] [--project DIR] [--state] [--chromium /usr/bin/chromium]

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


def seed_state(project: Path) -> int:
    """Record the project as applied twice, as the activities do: every node, then every model again at a
    new version with a training run, an evaluation and a registration, so the site writes every node's
    history (``--state``). Returns the number of nodes recorded."""
    from modelplane.runtime.state.ports import EffectWrites
    from modelplane.workspace import Workspace

    ws = Workspace(project)
    g = ws.compile().graph
    store = ws.store()
    env = ws.settings.environment
    rows = {str(i): (str(i), n.kind, n.file, n.index, n.data) for i, n in g.nodes.items()}
    models = [i for i in rows if i.startswith("model/")]
    for n in range(2):
        apply_id = store.next_apply_id()
        store.history_begin(apply_id, env, f"plan-{n}", f"apply/bench/{env}", "bench@localhost")
        upserts = list(rows.values()) if n == 0 else []
        runs = []
        for m in models:
            data = rows[m][4]
            if n == 1:
                data = {**data, "spec": {**data["spec"], "version": f"{data['spec'].get('version', '1')}-b"}}
                upserts.append((*rows[m][:4], data))
            key = f"{apply_id}:register:{m}"
            store.ledger_begin(key, env, apply_id, f"register:{m}")
            store.ledger_done(key, {"registered": m}, environment=env, apply_id=apply_id,
                              writes=EffectWrites(catalog=(m, data["spec"].get("version"), data)))  # fmt: skip
            runs.append((f"register:{m}", "register", m, "succeeded", {"version": data["spec"].get("version")}))
            wf = (data["spec"].get("trained_on") or {}).get("workflow")
            if wf and n == 1:
                runs.append(
                    (f"run-workflow:workflow/{wf}", "run-workflow", f"workflow/{wf}", "succeeded", {"exit_code": 0})
                )
        runs += [
            (f"evaluate:{i}", "evaluate", i, "succeeded", {"metrics": {"acc": 0.9}})
            for i in rows
            if i.startswith("evaluation/")
        ]
        store.record(env, apply_id, upserts=upserts, runs=runs)
        store.history_end(apply_id, "succeeded", {})
    store.close()
    return len(rows)


def _load() -> str:
    """The machine's load average, printed beside the figures: a shared machine's load inflates wall times."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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
    ap.add_argument("--state", action="store_true", help="record the project as applied twice first (histories)")
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
        if args.state:
            t = time.perf_counter()
            print(f"state: {seed_state(project)} nodes recorded as applied twice in {time.perf_counter() - t:.1f} s")
        site = Path(tmp) / "site"
        cold = write_site(project, site)
        warm = write_site(project, site)
        print(f"project: {project} ({args.nodes} nodes requested); load average before: {_load()}")
        print(f"write the site, cold caches: {cold[0]:.2f} s wall, {cold[1]:.2f} s CPU")
        print(f"write the site, warm:        {warm[0]:.2f} s wall, {warm[1]:.2f} s CPU   (target <= 3 s)")
        size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
        print(f"site size: {size / 1e6:.1f} MB")
        if not Path(args.chromium).exists():
            raise SystemExit(f"no chromium at {args.chromium}: apt-get install chromium, or pass --chromium")
        for name, value in browse(site, args.chromium).items():
            print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
        print("targets: first paint <= 1000 ms, keystroke <= 100 ms, re-focus <= 200 ms, overview without freezing")
        print(f"load average after (1, 5, 15 min): {_load()}")


if __name__ == "__main__":
    main()
