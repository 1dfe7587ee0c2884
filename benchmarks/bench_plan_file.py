"""The executable plan of a generated platform: build it (``executable``), write it (``plan --out``'s JSON) and
read it back (``apply``), best of N, with the machine's load beside the figures.

    python benchmarks/bench_plan_file.py --nodes 2000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.execution import executable
from modelplane.compiler.plan.model import Plan

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "platform"
        gen = [sys.executable, str(HERE / "gen_specs.py"), "--nodes", str(args.nodes), "--out", str(out)]
        subprocess.run(gen, check=True, capture_output=True)
        result = make_plan(out, use_cache=False)
        best = [float("inf")] * 3
        size = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            plan = executable(result.plan, result.head.graph, result.base)
            t1 = time.perf_counter()
            text = plan.model_dump_json(indent=2)
            t2 = time.perf_counter()
            Plan.model_validate_json(text)
            t3 = time.perf_counter()
            best = [min(b, t) for b, t in zip(best, (t1 - t0, t2 - t1, t3 - t2), strict=True)]
            size = len(text)
    build, write, read = (round(b * 1000) for b in best)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.nodes} nodes, {len(result.plan.actions)} actions, {size / 2**20:.1f} MiB: executable {build} ms, "
        f"write {write} ms, read {read} ms (best of {args.repeat}; load average {load})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
