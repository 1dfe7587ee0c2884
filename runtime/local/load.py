"""A bounded open-loop load generator for an endpoint's router: fixed QPS, fixed duration, latency percentiles.

Open loop (requests start on schedule whether or not earlier ones finished),
so a slow backend shows up as latency rather than as fewer requests; at most
``max_inflight`` are outstanding so a dead endpoint cannot exhaust the machine.
Arrivals are Poisson by default, as `vllm bench serve --request-rate` and real
independent clients send them: evenly spaced requests queue far less, and a
fleet that holds them can miss its p99 under real traffic at the same rate.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    dropped: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    by_revision: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "dropped": self.dropped,
            "achieved_qps": round(self.sent / self.wall_s, 1) if self.wall_s else 0.0,
            "p50_ms": self.percentile(0.5),
            "p90_ms": self.percentile(0.9),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
            "by_revision": self.by_revision,
        }


async def run_load(
    url: str,
    model: str,
    qps: float,
    duration: float,
    input_tokens: int = 50,
    output_tokens: int = 50,
    max_inflight: int = 2000,
    arrivals: str = "poisson",
    seed: int | None = None,
) -> LoadResult:
    """``arrivals``: ``poisson`` (exponential gaps, mean ``1/qps``) or ``uniform`` (evenly spaced)."""
    result = LoadResult()
    prompt = " ".join(f"w{i}" for i in range(input_tokens))
    body = {"model": model, "prompt": prompt, "max_tokens": output_tokens}
    sem = asyncio.Semaphore(max_inflight)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one() -> None:
            t = time.perf_counter()
            try:
                async with session.post(url + "/v1/completions", json=body) as resp:
                    await resp.read()
                    rev = resp.headers.get("x-modelplane-revision", "?")
                    result.by_revision[rev] = result.by_revision.get(rev, 0) + 1
                    if resp.status == 200:
                        result.ok += 1
                    else:
                        result.errors += 1
            except (aiohttp.ClientError, TimeoutError):
                result.errors += 1
            finally:
                result.latencies_ms.append((time.perf_counter() - t) * 1000)
                sem.release()

        tasks = []
        start = time.perf_counter()
        rng = random.Random(seed)
        at = 0.0
        while True:
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if sem.locked():
                result.dropped += 1
                continue
            await sem.acquire()
            result.sent += 1
            tasks.append(asyncio.create_task(one()))
            at += rng.expovariate(qps) if arrivals == "poisson" else 1 / qps
            if at >= duration - 1e-9:
                break
        await asyncio.gather(*tasks)
        result.wall_s = time.perf_counter() - start
    return result
