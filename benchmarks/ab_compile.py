"""Compare two checkouts' cold `plan --base HEAD~1` and cold `validate` on one generated repository.

    python benchmarks/ab_compile.py --a /path/to/base/.venv/bin/python --b .venv/bin/python \\
        --repo /tmp/mp10k [--nodes 10000] [--rounds 7]

On a shared machine absolute times drift with the load, so the two sides run
interleaved (a, b, a, b, ...) on the same repository, every cache cleared
before each run; medians of wall time and of the child's CPU time (user+sys,
less sensitive to other load), and the CLI's own stage timings
(MODELPLANE_TIMINGS=json). It prints; it asserts nothing.
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one(python: str, root: Path, args: list[str]) -> tuple[float, float, dict[str, float]]:
    shutil.rmtree(root / ".modelplane", ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(
        [python, "-m", "modelplane", *args],
        cwd=root,
        env={**os.environ, "MODELPLANE_TIMINGS": "json"},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{python} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stages: dict[str, float] = json.loads(proc.stderr.strip().splitlines()[-1])
    return wall, cpu, stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="python of side A (e.g. the original commit's venv)")
    ap.add_argument("--b", required=True, help="python of side B")
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only-plan", action="store_true", help="skip the validate comparison")
    args = ap.parse_args()
    root: Path = args.repo
    if not (root / ".git").exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_specs.py"), "--nodes", str(args.nodes), "--out", str(root), "--git",
             "--change-upstream"],
            check=True, capture_output=True,
        )  # fmt: skip
    cases = [("plan --base HEAD~1, cold", ["plan", "--base", "HEAD~1"]), ("validate, cold", ["validate"])]
    for label, cmd in cases[:1] if args.only_plan else cases:
        runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {"A": [], "B": []}
        for _ in range(args.rounds):
            for side, python in (("A", args.a), ("B", args.b)):
                runs[side].append(one(python, root, cmd))
        print(f"\n{label} (median of {args.rounds}, interleaved)")
        for side in ("A", "B"):
            wall = statistics.median(r[0] for r in runs[side])
            cpu = statistics.median(r[1] for r in runs[side])
            # other load only ever adds time: the fastest run is the least disturbed one
            best = min(r[0] for r in runs[side])
            print(f"  {side}: wall {wall:7.3f} s   cpu {cpu:7.3f} s   fastest {best:7.3f} s")
        stages = sorted({k for side in runs.values() for r in side for k in r[2]})
        print(f"  {'stage (median, fastest)':<24} {'A':>8} {'B':>8} {'A min':>8} {'B min':>8}")
        for k in stages:
            a = statistics.median(r[2].get(k, 0.0) for r in runs["A"])
            b = statistics.median(r[2].get(k, 0.0) for r in runs["B"])
            a_min = min(r[2].get(k, 0.0) for r in runs["A"])
            b_min = min(r[2].get(k, 0.0) for r in runs["B"])
            print(f"  {k:<24} {a:8.3f} {b:8.3f} {a_min:8.3f} {b_min:8.3f}")


if __name__ == "__main__":
    main()
