"""Benchmark the local router: p99 with one slow replica (power of two choices vs round robin), its own
added latency, and the most requests/s it passes on this machine.

    python benchmarks/bench_router.py [--replicas 4] [--qps 150] [--duration 10]

Real processes on loopback: simulator replicas (one with a 3x latency
multiplier), the router, and the load generator from `modelplane load`, all on
the same machine (so figures include their competition for its cores). Prints
figures; never asserts on time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _options import options  # noqa: E402

from modelplane.runtime.local.load import LoadResult, run_load  # noqa: E402
from modelplane.runtime.local.registry import Registry, Replica, Revision, RouterProc, write  # noqa: E402
from modelplane.runtime.procs import free_port, port_open  # noqa: E402


def spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 60  # a loaded machine can take a while to start a Python process
    while not port_open(f"127.0.0.1:{port}"):
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listening on {port}")
        time.sleep(0.05)


def replica(port: int, ttft: float, tpot: float, multiplier: float = 1.0, seqs: int = 64) -> subprocess.Popen[bytes]:
    faults = json.dumps({"latency_multiplier": multiplier})
    return spawn(
        ["modelplane.runtime.local.simulator", "--port", str(port), "--served-model-name", "bench",
         "--max-num-seqs", str(seqs), "--ttft-ms", str(ttft), "--tpot-ms", str(tpot), "--faults", faults]
    )  # fmt: skip


def served(port: int) -> int:
    """Requests a simulator replica has completed (its vllm:request_success_total)."""
    import urllib.request

    from modelplane.runtime.local.prom_text import sample_sum

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:  # every finished_reason's series
        return int(sample_sum(r.read().decode(), "vllm:request_success", "vllm:request_success_total") or 0)


def line(name: str, r: LoadResult) -> str:
    s = r.summary()
    return (
        f"  {name:<22} p50 {s['p50_ms']:7.1f} ms  p90 {s['p90_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  "
        f"max {s['max_ms']:7.1f} ms  "
        f"{s['achieved_qps']:6.1f} req/s  errors {s['errors']}"
    )


async def closed_loop(url: str, concurrency: int, seconds: float) -> float:
    body = {"model": "bench", "prompt": "x", "max_tokens": 1}
    done = 0
    stop = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                async with s.post(url + "/v1/completions", json=body) as r:
                    await r.read()
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / seconds


def main() -> None:
    args = options(__doc__, replicas=4, qps=150.0, duration=10.0)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ports = [free_port() for _ in range(args.replicas)]
            for i, port in enumerate(ports):  # ~50/50 tokens: 20 ms to first token, 2 ms per token
                # replica 0: 3x slower and, like a real engine, with a bounded batch (it queues when overloaded)
                procs.append(replica(port, 20, 2, 3.0, 8) if i == 0 else replica(port, 20, 2))
            for port in ports:
                wait_port(port)
            print(
                f"{args.replicas} simulator replicas (replica 0 is 3x slower, batch 8 vs 64), {args.qps:.0f} req/s open loop, "
                f"{args.duration:.0f} s, 50 input / 50 output tokens"
            )
            # the router also ejects latency outliers (3x its revision's median) whatever the policy
            for name, policy, cap in (
                ("p2c + latency", "power_of_two_choices", None),
                ("p2c + cap 8/replica", "power_of_two_choices", 8),
                ("round_robin", "round_robin", None),
                ("least_request", "least_request", None),
            ):
                path = Path(tmp) / f"{name}.json"
                rport = free_port()
                reps = [Replica(pid=0, port=p) for p in ports]
                reg = Registry(
                    endpoint="bench",
                    environment="bench",
                    policy=policy,
                    router=RouterProc(pid=0, port=rport),
                    revisions={"r1": Revision(role="stable", weight=100, max_inflight=cap, replicas=reps)},
                )
                write(path, reg)
                router = spawn(["modelplane.runtime.local.router", "--registry", str(path), "--port", str(rport)])
                procs.append(router)
                wait_port(rport)
                slow_before = served(ports[0])
                result = asyncio.run(run_load(f"http://127.0.0.1:{rport}", "bench", args.qps, args.duration))
                share = (served(ports[0]) - slow_before) / max(1, result.ok)
                print(line(name, result) + f"  slow replica got {share:.0%}")
                router.terminate()

            print("router overhead (one fast replica, 20 req/s, 1 output token):")
            fast = free_port()
            procs.append(replica(fast, 0, 0))
            wait_port(fast)
            path = Path(tmp) / "one.json"
            rport = free_port()
            write(
                path,
                Registry(
                    endpoint="bench",
                    environment="bench",
                    router=RouterProc(pid=0, port=rport),
                    revisions={"r1": Revision(role="stable", weight=100, replicas=[Replica(pid=0, port=fast)])},
                ),
            )
            procs.append(spawn(["modelplane.runtime.local.router", "--registry", str(path), "--port", str(rport)]))
            wait_port(rport)
            direct = asyncio.run(run_load(f"http://127.0.0.1:{fast}", "bench", 20, 5, 1, 1))
            routed = asyncio.run(run_load(f"http://127.0.0.1:{rport}", "bench", 20, 5, 1, 1))
            print(line("direct to replica", direct))
            print(line("through the router", routed))
            added = (routed.percentile(0.5) or 0) - (direct.percentile(0.5) or 0)
            print(f"  added by the router: p50 {added:.2f} ms")
            rps = asyncio.run(closed_loop(f"http://127.0.0.1:{rport}", 64, 5))
            print(f"max through the router (closed loop, 64 connections, 1 fast replica): {rps:.0f} req/s")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


if __name__ == "__main__":
    main()
