"""Benchmark validate, plan --base and impact on generated spec repositories; prints figures.

    python benchmarks/bench_compile.py --nodes 1000 10000 [--repeat 5]

For each size: a repository from gen_specs.py with one upstream dataset
changed in its last commit. Cold runs clear .modelplane/ (every cache) first;
warm runs repeat the same command. Whole-command times are medians of
`--repeat` runs of the real CLI in a subprocess (interpreter start included).
Then the in-process split of a cold `plan --base HEAD~1` by stage, and the time
of `impact` on an already compiled graph. Never a timed assertion: it prints.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "modelplane"]


def run(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return took


def timed(cmd: list[str], cwd: Path, repeat: int, cold: bool) -> float:
    times = []
    for _ in range(repeat):
        if cold:
            shutil.rmtree(cwd / ".modelplane", ignore_errors=True)
        times.append(run(cmd, cwd))
    if not cold:
        times = times[1:] or times
    return statistics.median(times)


def split(root: Path) -> dict[str, float]:
    """Cold, in-process: where a `plan --base HEAD~1` spends its time."""
    code = f"""
import time, json, shutil
from pathlib import Path
root = Path({str(root)!r})
shutil.rmtree(root / ".modelplane", ignore_errors=True)
t0 = time.perf_counter()
from modelplane.compiler import compile as c, loader, graph as g, checks, fingerprint
from modelplane.compiler.sources import GitSource
from modelplane.compiler.scan import scan
t1 = time.perf_counter()
git = GitSource.for_project(root, "HEAD~1")
sb = scan(root, None, git); sh = scan(root, None)
t2 = time.perf_counter()
sb_specs = loader.load(root, None, git, False, scanned=sb); sh_specs = loader.load(root, None, None, False, scanned=sh)
t3 = time.perf_counter()
with loader.paused_gc():
    gb = g.build(sb_specs); gh = g.build(sh_specs)
    checks.check(gb); checks.check(gh)
    fb = fingerprint.fingerprints(gb); fh = fingerprint.fingerprints(gh)
t4 = time.perf_counter()
from modelplane.compiler.diff import diff
from modelplane.compiler.impact import compute
from modelplane.compiler.plan import build_plan
from modelplane.compiler.planfile import BaseRef
with loader.paused_gc():
    d = diff(gb, gh, fb, fh)
    imp = compute(gh, d)
    p = build_plan(project="x", environment=sh.environment, head=gh, base=gb, diff=d, impact=imp,
                   base_ref=BaseRef(kind="git"), state_serial=0)
t5 = time.perf_counter()
from modelplane.compiler.report_text import render
render(p)
t6 = time.perf_counter()
from modelplane.compiler.whatif import hypothetical
from modelplane.compiler.selectors import select
ts = []
for _ in range(20):
    a = time.perf_counter(); hypothetical(gh, select(gh, "dataset/core-0")); ts.append(time.perf_counter() - a)
ts.sort()
print(json.dumps({{"imports": t1 - t0, "scan (read+hash, both sides)": t2 - t1,
  "parse+validate+refs (both sides)": t3 - t2, "graph+checks+fingerprints (both)": t4 - t3,
  "diff+impact+plan": t5 - t4, "report (text)": t6 - t5, "impact on compiled graph (median of 20)": ts[10],
  "changes": len(p.changes), "affected": len(p.impact), "actions": len(p.actions)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import json

    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="generate under this folder and keep it")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="modelplane-bench-"))
    print(f"python {sys.version.split()[0]}, repositories under {base}")
    for n in args.nodes:
        root = base / f"n{n}"
        if not (root / ".git").exists():
            subprocess.run(
                [sys.executable, str(HERE / "gen_specs.py"), "--nodes", str(n), "--out", str(root), "--git",
                 "--change-upstream"],
                check=True, capture_output=True,
            )  # fmt: skip
        repeat = args.repeat if n <= 20000 else 1
        print(f"\n{n} nodes ({sum(1 for _ in root.rglob('*.yaml')) - 1} spec files)")
        rows = [
            ("validate, cold", [*CLI, "validate"], True),
            ("validate, warm", [*CLI, "validate"], False),
            ("plan --base HEAD~1, cold", [*CLI, "plan", "--base", "HEAD~1"], True),
            ("plan --base HEAD~1, warm", [*CLI, "plan", "--base", "HEAD~1"], False),
        ]
        for label, cmd, cold in rows:
            print(f"  {label:<32} {timed(cmd, root, repeat, cold):7.3f} s")
        for stage, value in split(root).items():
            unit = "" if stage in ("changes", "affected", "actions") else " s"
            shown = f"{value:7.3f}" if unit else f"{int(value):7d}"
            print(f"    {stage:<44} {shown}{unit}")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
