"""Compare two checkouts' cold (or, with ``--warm``, repeated) `plan --base HEAD~1` and `validate` on one
generated repository.

    python benchmarks/ab_compile.py --a /path/to/base/.venv/bin/python --b .venv/bin/python \\
        --repo /tmp/mp10k [--nodes 10000] [--rounds 7] [--warm]

On a shared machine absolute times drift with the load, so the two sides run
interleaved (a, b, b, a, ...) on the same repository, every cache cleared
before each run; medians of wall time and of the child's CPU time (user+sys,
less sensitive to other load), and the CLI's own stage timings
(MODELPLANE_TIMINGS=json). With ``--busy`` a CPU-bound process runs beside
every measurement (the other core busy, as on a CI runner doing two things),
where a forked parse child no longer hides behind an idle core. The load
average is printed before and after each case. It prints; it asserts nothing.

Each side imports from compiled bytecode, as an installed package does (pip compiles it on
install): ``PYTHONDONTWRITEBYTECODE`` is dropped and each side gets its own ``PYTHONPYCACHEPREFIX``
(a temporary folder), filled by one untimed run per case. ``--no-bytecode`` keeps the caller's
setting instead; where that forbids bytecode, every run compiles every module it imports from
source, which charges a side for the size of its code rather than for the work it does.
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


ENV: dict[str, dict[str, str]] = {}
"""Each side's environment (its own bytecode cache, unless --no-bytecode)."""


def _env(python: str) -> dict[str, str]:
    return ENV.get(python, dict(os.environ))


WARM = False
"""--warm: keep every cache and time the repeated command as a user meets it (no stage timings: asking
for them sends a memoized plan to the CLI, which reports them)."""


def one(python: str, root: Path, args: list[str]) -> tuple[float, float, dict[str, float]]:
    if not WARM:
        shutil.rmtree(root / ".modelplane", ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(
        [python, "-m", "modelplane", *args],
        cwd=root,
        env={**_env(python), **({} if WARM else {"MODELPLANE_TIMINGS": "json"})},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{python} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stages: dict[str, float] = {} if WARM else json.loads(proc.stderr.strip().splitlines()[-1])
    return wall, cpu, stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="python of side A (e.g. the original commit's venv)")
    ap.add_argument("--b", required=True, help="python of side B")
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only-plan", action="store_true", help="skip the validate comparison")
    ap.add_argument("--busy", action="store_true", help="keep one core busy with a CPU-bound process meanwhile")
    ap.add_argument(
        "--no-bytecode", action="store_true", help="keep the caller's PYTHONDONTWRITEBYTECODE (no bytecode cache)"
    )
    ap.add_argument("--warm", action="store_true", help="time the repeated command with every cache kept")
    args = ap.parse_args()
    global WARM
    WARM = args.warm
    caches = tempfile.TemporaryDirectory(prefix="ab-pycache-")
    if not args.no_bytecode:
        for side, python in (("a", args.a), ("b", args.b)):
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            ENV[python] = {**env, "PYTHONPYCACHEPREFIX": str(Path(caches.name) / side)}
    print(f"bytecode: {'as the caller set it' if args.no_bytecode else 'a cache per side, filled by an untimed run'}")
    root: Path = args.repo
    if not (root / ".git").exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_specs.py"), "--nodes", str(args.nodes), "--out", str(root), "--git",
             "--change-upstream"],
            check=True, capture_output=True,
        )  # fmt: skip
    temper = "warm" if WARM else "cold"
    cases = [(f"plan --base HEAD~1, {temper}", ["plan", "--base", "HEAD~1"]), (f"validate, {temper}", ["validate"])]
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        for label, cmd in cases[:1] if args.only_plan else cases:
            compare(label + (", other core busy" if burner else ""), cmd, args.a, args.b, root, args.rounds)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare(label: str, cmd: list[str], a: str, b: str, root: Path, rounds: int) -> None:
    """``rounds`` interleaved runs of each side (a, b, b, a, a, b, ...), then medians, the fastest of each and the
    median of the rounds' own ratios. Passing one python as both sides measures what the method itself leaves
    between them (an A/A run: both ratios should be within a percent or two of 1)."""
    for python in (a, b):  # fills each side's bytecode cache (and the page cache): not counted
        one(python, root, cmd)
    load_before = _load()
    runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {"A": [], "B": []}
    for i in range(rounds):
        # the order alternates (a b, b a, a b, ...): with a fixed order the second side paid for whatever the first
        # left behind (its cache files still being written back): two runs of one checkout measured 1.026 apart
        pair = (("A", a), ("B", b)) if i % 2 == 0 else (("B", b), ("A", a))
        for side, python in pair:
            runs[side].append(one(python, root, cmd))
    print(f"\n{label} (median of {rounds}, interleaved, order alternating; load average {load_before} before, "
          f"{_load()} after)")  # fmt: skip
    for side in ("A", "B"):
        wall = statistics.median(r[0] for r in runs[side])
        cpu = statistics.median(r[1] for r in runs[side])
        # other load only ever adds time: the fastest run is the least disturbed one
        best = min(r[0] for r in runs[side])
        least = min(r[1] for r in runs[side])
        print(f"  {side}: wall {wall:7.3f} s   cpu {cpu:7.3f} s   fastest wall {best:7.3f} s, least cpu {least:7.3f} s")
    wall_ratio = statistics.median(r[0] for r in runs["B"]) / statistics.median(r[0] for r in runs["A"])
    cpu_ratio = statistics.median(r[1] for r in runs["B"]) / statistics.median(r[1] for r in runs["A"])
    print(f"  B/A (medians): wall {wall_ratio:.3f}, cpu {cpu_ratio:.3f}")
    # each round's own ratio: the two runs of a round are seconds apart, so a drift of the machine's speed over
    # the sitting (it moved 20% within minutes here) cancels out of it
    paired_wall = statistics.median(rb[0] / ra[0] for ra, rb in zip(runs["A"], runs["B"], strict=True))
    paired_cpu = statistics.median(rb[1] / ra[1] for ra, rb in zip(runs["A"], runs["B"], strict=True))
    print(f"  B/A (median of the rounds' ratios): wall {paired_wall:.3f}, cpu {paired_cpu:.3f}")
    stages = sorted({k for side in runs.values() for r in side for k in r[2]})
    print(f"  {'stage (median, fastest)':<24} {'A':>8} {'B':>8} {'A min':>8} {'B min':>8}")
    for k in stages:
        sa = statistics.median(r[2].get(k, 0.0) for r in runs["A"])
        sb = statistics.median(r[2].get(k, 0.0) for r in runs["B"])
        a_min = min(r[2].get(k, 0.0) for r in runs["A"])
        b_min = min(r[2].get(k, 0.0) for r in runs["B"])
        print(f"  {k:<24} {sa:8.3f} {sb:8.3f} {a_min:8.3f} {b_min:8.3f}")


if __name__ == "__main__":
    main()
