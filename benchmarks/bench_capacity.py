"""Capacity end to end on the local stack: bench -> profile -> plan's replica count -> load at the declared peak.

On a copy of examples/quickstart whose simulator is slow enough for this machine to load a fleet of it (8
sequences a replica, 50 ms to the first token, 20 ms a token, 10 output tokens: ~20 requests/s each):

1. apply one replica and `modelplane bench tiny-chat`: the profile (every probe printed);
2. declare a peak of ``--fleet-load`` x the measured capacity, and read the replica count the plan computes
   within the SLO (`plan --format json`, capacity section: the fleet simulation calibrated on the profile);
3. apply exactly that many replicas, run `modelplane load` at the peak: p99 must hold the SLO;
4. apply 15% fewer (rounded), the same load: p99 must miss it;
5. beside each measured p99, the simulation's prediction for that fleet (the bar: within 15% where the fleet
   holds; past saturation a queue grows for the whole run and neither figure is a steady p99).

Prints every figure; nothing is asserted. Takes ~9 minutes.

    python benchmarks/bench_capacity.py [--fleet-load 6] [--seconds 120]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from modelplane.compiler.capacity.profile import Profile
from modelplane.compiler.capacity.simulation import calibrate, p99_of

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "modelplane"
SLOW = """  engine:
    args:
      max_model_len: 512
      max_num_seqs: 8
    simulator: {ttft_ms: 50, tpot_ms: 20}
"""


def mp(root: Path, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run(
        [str(BIN), *args, "-C", str(root)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )
    if proc.returncode not in (0, 2):  # 2: plan has changes
        raise SystemExit(f"modelplane {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def set_replicas(spec: Path, n: int) -> None:
    text = spec.read_text()
    start = text.index("  autoscaling:\n")
    end = text.index("  routing:\n")
    spec.write_text(text[:start] + f"  autoscaling:\n    min_replicas: {n}\n    max_replicas: {n}\n" + text[end:])


def ready(root: Path) -> int:
    reg = json.loads((root / ".modelplane" / "local" / "dev" / "tiny-chat.json").read_text())
    return sum(
        1 for rev in reg["revisions"].values() for r in rev["replicas"] if r.get("ready") and not r.get("draining")
    )


def load(root: Path, qps: float, seconds: float) -> dict[str, Any]:
    out = mp(root, "load", "tiny-chat", "--qps", f"{qps:.3f}", "--duration", str(seconds),
             "--input-tokens", "50", "--output-tokens", "10", "--format", "json")  # fmt: skip
    data: dict[str, Any] = json.loads(out[out.index("{") :])
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleet-load", type=float, default=6.0, help="the declared peak, in measured replicas' worth")
    ap.add_argument("--seconds", type=float, default=120.0, help="seconds of load per fleet")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "quickstart"
        shutil.copytree(ROOT / "examples" / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
        spec = root / "specs" / "serving.yaml"
        edit(spec, "  engine:\n    args:\n      max_model_len: 512\n      max_num_seqs: 64\n", SLOW)
        edit(spec, "traffic: {qps: 20, input_tokens: 50, output_tokens: 50}",
             "traffic: {qps: 2, input_tokens: 50, output_tokens: 10}")  # fmt: skip
        edit(spec, "  capacity: {target_qps_per_replica: 20}\n", "")
        edit(spec, "      - {weight: 20, pause: 10s}\n      - {weight: 50, pause: 10s}\n", "")
        # replicas join at full weight: the router's 30 s slow start would pile the load on the old ones
        edit(spec, "    policy: power_of_two_choices\n", "    policy: power_of_two_choices\n    slow_start: 0s\n")
        set_replicas(spec, 1)
        try:
            t = time.perf_counter()
            mp(root, "apply", "--auto-approve")
            print(f"load average {os.getloadavg()[0]:.2f}; applied 1 replica in {time.perf_counter() - t:.0f} s")
            t = time.perf_counter()
            print(mp(root, "bench", "tiny-chat", "--out", str(root / "profiles" / "tiny-chat.json")).rstrip())
            print(f"(bench took {time.perf_counter() - t:.0f} s)")
            profile = Profile.model_validate_json((root / "profiles" / "tiny-chat.json").read_text())
            c = profile.capacity.qps_per_replica
            peak = round(args.fleet_load * c, 2)
            edit(spec, "traffic: {qps: 2,", f"traffic: {{qps: {peak},")
            plan = json.loads(mp(root, "plan", "--format", "json"))
            (line,) = [x for x in plan["capacity"] if x["endpoint"] == "endpoint/tiny-chat"]
            n = line["within_slo_replicas"]
            print(f"declared peak {peak} req/s ({args.fleet_load} x {c:g}); plan: {n} replicas within the SLO "
                  f"(the profile alone: {line['profile_replicas'] or math.ceil(peak / c)})")  # fmt: skip
            model = calibrate(profile, 8)
            slo = profile.capacity.p99_latency_ms
            fewer = max(1, min(n - 1, round(n * 0.85)))
            for count in (n, fewer):
                set_replicas(spec, count)
                mp(root, "apply", "--auto-approve")
                deadline = time.monotonic() + 60
                while ready(root) != count and time.monotonic() < deadline:
                    time.sleep(0.5)
                got = load(root, peak, args.seconds)
                predicted = p99_of(model, peak, count, seconds=max(20.0, args.seconds))
                p99 = got["p99_ms"]
                print(
                    f"{count} replicas ({(count - n) / n:+.0%}) at {peak} req/s for {args.seconds:g} s: measured p99 "
                    f"{p99:.0f} ms ({'within' if p99 <= slo else 'OVER'} the {slo:g} ms SLO), p50 {got['p50_ms']:.0f} "
                    f"ms, {got['ok']}/{got['sent']} ok; simulation p99 {predicted:.0f} ms "
                    f"({(predicted - p99) / p99:+.1%} of measured); load average {os.getloadavg()[0]:.2f}"
                )
        finally:
            mp(root, "down")


if __name__ == "__main__":
    main()
