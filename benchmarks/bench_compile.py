"""Benchmark validate, plan --base and impact on generated spec repositories; prints figures.

    python benchmarks/bench_compile.py --nodes 1000 10000 [--repeat 5]

For each size: a repository from gen_specs.py with one upstream dataset
changed in its last commit. Cold runs clear .modelplane/ (every cache) first;
warm runs repeat the same command. Whole-command times are medians of
`--repeat` runs of the real CLI in a subprocess (interpreter start included),
wall and CPU (user + sys, children included).
Then where a cold `plan --base HEAD~1` spends its time, from the CLI's own
stage timings (MODELPLANE_TIMINGS=json), and the time of `impact` on an
already compiled graph. Never a timed assertion: it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "modelplane"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + sys, its children included) seconds of one run of ``cmd``."""
    cpu, t = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took, used = time.perf_counter() - t, _children_cpu() - cpu
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return took, used


def timed(cmd: list[str], cwd: Path, repeat: int, cold: bool) -> tuple[float, float]:
    """Median wall and CPU seconds; a warm figure leaves out the first run (it fills the caches)."""
    runs = []
    for _ in range(repeat):
        if cold:
            shutil.rmtree(cwd / ".modelplane", ignore_errors=True)
        runs.append(run(cmd, cwd))
    if not cold:
        runs = runs[1:] or runs
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def split(root: Path, repeat: int) -> tuple[float, dict[str, float]]:
    """Where a cold `plan --base HEAD~1` spends its time: the CLI's own stage timings
    (MODELPLANE_TIMINGS=json, exclusive per stage), median of ``repeat`` cold runs,
    plus what no stage covers (interpreter start, imports outside stages, output)."""
    env = {**os.environ, "MODELPLANE_TIMINGS": "json"}
    walls: list[float] = []
    stages: dict[str, list[float]] = {}
    for _ in range(repeat):
        shutil.rmtree(root / ".modelplane", ignore_errors=True)
        t = time.perf_counter()
        proc = subprocess.run([*CLI, "plan", "--base", "HEAD~1"], cwd=root, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        for k, v in json.loads(proc.stderr.strip().splitlines()[-1]).items():
            stages.setdefault(k, []).append(v)
    medians = {k: statistics.median(v) for k, v in stages.items()}
    wall = statistics.median(walls)
    medians["(outside any stage: start-up, imports, output)"] = max(0.0, wall - sum(medians.values()))
    return wall, medians


def impact_time(root: Path) -> tuple[float, dict[str, int]]:
    """`impact` of the changed dataset on an already compiled graph (median of 20), and the plan's size."""
    code = f"""
import json, time
from pathlib import Path
from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.compiler.graph.selectors import select
from modelplane.compiler.change.whatif import hypothetical
root = Path({str(root)!r})
g = compile_graph(root).graph
ts = []
for _ in range(20):
    a = time.perf_counter(); hypothetical(g, select(g, "dataset/core-0")); ts.append(time.perf_counter() - a)
p = make_plan(root, base_ref="HEAD~1").plan
print(json.dumps({{"impact": sorted(ts)[10], "changes": len(p.changes), "affected": len(p.impact), "actions": len(p.actions)}}))
"""
    # run in the project, not here: in a checkout the source folder `modelplane/` would shadow an installed
    # (non-editable) package, which lacks nothing but is laid out differently
    run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    out = json.loads(run.stdout)
    took = out.pop("impact")
    return took, out


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
            wall_s, cpu_s = timed(cmd, root, repeat, cold)
            print(f"  {label:<32} {wall_s:7.3f} s wall {cpu_s:7.3f} s CPU")
        wall, stages = split(root, repeat)
        print(f"  cold plan --base HEAD~1 by stage (median of {repeat}; wall {wall:.3f} s)")
        for stage, value in stages.items():
            print(f"    {stage:<48} {value:7.3f} s")
        took, size = impact_time(root)
        print(f"  impact on a compiled graph (median of 20)   {took * 1000:7.1f} ms")
        print(f"  plan: {size['changes']} changed, {size['affected']} affected, {size['actions']} actions")
    print(
        f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores here: figures are firm only near 0)"
    )
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
