"""``modelplane bench``: measure what one replica of a running endpoint sustains within its SLO.

Each probe offers open-loop Poisson traffic at one rate to one replica (the replica itself, not
the router: a profile is per replica; the fleet is the planner's and the simulation's job) with
the endpoint's declared token shape, streamed with usage reporting the way clients call vLLM,
and records time to first token, inter-token gaps and end-to-end latency of each request. The
search (compiler.capacity.search) doubles the rate until a probe misses the SLO, then bisects
to 5%, in at most 25 probes. The result is a profile keyed by exactly what was measured.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from modelplane import __version__
from modelplane.compiler.capacity.profile import Measured, Probe, Profile, ProfileKey
from modelplane.compiler.capacity.search import Samples, Search, capacity_of, verdict
from modelplane.errors import ModelplaneError
from modelplane.files import atomic_write


@dataclass(frozen=True)
class Target:
    url: str
    """The replica's base URL (``http://127.0.0.1:PORT``)."""
    model: str
    """The served model name clients ask for."""
    engine: str
    """``simulator`` or ``vllm``, as the replica says of itself."""
    where: str


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, out: Samples, timeout_s: float) -> None:
    began = time.perf_counter()
    first: float | None = None
    last = began
    gaps: list[float] = []
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            if resp.status != 200:
                await resp.read()
                out.errors += 1
                return
            async for raw in resp.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                chunk = orjson.loads(data)
                if not any(c.get("text") for c in chunk.get("choices", [])):
                    continue  # the usage chunk, or a chunk with no text
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    gaps.append((now - last) * 1000)
                last = now
    except (aiohttp.ClientError, TimeoutError, ValueError):
        out.errors += 1
        return
    end = time.perf_counter()
    out.e2e_ms.append((end - began) * 1000)
    if first is not None:
        out.ttft_ms.append((first - began) * 1000)
    out.itl_ms.extend(gaps)


async def probe(
    target: Target,
    rate: float,
    duration_s: float,
    input_tokens: int,
    output_tokens: int,
    timeout_s: float,
    warmup_s: float = 1.0,
    seed: int = 7,
) -> Samples:
    """Offer ``rate`` requests/s for ``warmup_s + duration_s``; only requests started after the warm-up count."""
    prompt = " ".join(f"w{i}" for i in range(input_tokens))
    body = orjson.dumps(
        {
            "model": target.model,
            "prompt": prompt,
            "max_tokens": output_tokens,
            "ignore_eos": True,  # vLLM's extension: exactly output_tokens, as the profile's key says
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    rng = random.Random(seed)
    measured = Samples(rate, duration_s, [])
    discard = Samples(rate, warmup_s, [])
    url = target.url.rstrip("/") + "/v1/completions"
    tasks: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        t = 0.0
        while t < warmup_s + duration_s:
            t += rng.expovariate(rate)
            delay = start + t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sink = measured if t >= warmup_s else discard
            tasks.append(asyncio.create_task(_one(session, url, body, sink, timeout_s)))
        await asyncio.gather(*tasks)
    return measured


def measure(
    key: ProfileKey,
    target: Target,
    *,
    p99_slo_ms: float,
    ttft_slo_ms: float | None,
    availability: float,
    start_rate: float,
    endpoint: str,
    environment: str,
    probe_seconds: float = 5.0,
    max_probes: int = 25,
    precision: float = 0.05,
    progress: Callable[[int, Probe], None] | None = None,
) -> Profile:
    """Run the search against ``target`` and return the profile (nothing is written here)."""
    search = Search(start=max(start_rate, 0.1), precision=precision, max_probes=max_probes)
    budget = 1 - availability
    while (rate := search.next_rate()) is not None:
        # enough requests for a p99 with an upper bound that is not simply the slowest one
        seconds = min(30.0, max(probe_seconds, 300 / rate))
        samples = asyncio.run(
            # a seed per probe: one seed would offer every probe the same arrival pattern, scaled, and its
            # luck (more or fewer arrivals than the rate) would be the same at every rate
            probe(
                target,
                rate,
                seconds,
                key.input_tokens,
                key.output_tokens,
                timeout_s=max(10, p99_slo_ms / 100),
                seed=7 + len(search.probes),
            )
        )
        result = verdict(samples, p99_slo_ms, budget, ttft_slo_ms)
        search.probes.append(result)
        if progress:
            progress(len(search.probes), result)
    capacity = capacity_of(search.probes, p99_slo_ms, ttft_slo_ms)
    if capacity is None:
        raise ModelplaneError(
            f"no load level met the SLO (p99 {p99_slo_ms:g} ms) even at "
            f"{min(p.offered_qps or 0 for p in search.probes):g} req/s: the replica is slower than its SLO without "
            "load; check the engine's arguments or the SLO"
        )
    return Profile(
        key=key,
        capacity=capacity,
        probes=search.probes,
        measured=Measured(
            at=datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
            where=target.where,
            engine="simulator" if target.engine == "simulator" else "vllm",
            tool=f"modelplane bench {__version__}",
            endpoint=endpoint,
            environment=environment,
        ),
    )


def write_profile(profile: Profile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, orjson.dumps(profile.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n")


def host() -> str:
    return socket.gethostname()


def local_target(root: Path, environment: str, endpoint: str, served: str) -> Target:
    """A live replica of the endpoint's stable revision on the local stack."""
    from modelplane.runtime.local.registry import read, registry_path
    from modelplane.runtime.procs import pid_alive

    reg = read(registry_path(root, environment, endpoint))
    stable = reg.stable() if reg else None
    if reg is None or stable is None:
        raise ModelplaneError(
            f"endpoint/{endpoint} is not running on the local stack in {environment}",
            hint=f"apply it first (`modelplane apply --env {environment}`), or measure another server with --url",
        )
    live = [r for r in reg.revisions[stable].replicas if r.ready and not r.draining and pid_alive(r.pid)]
    if not live:
        raise ModelplaneError(
            f"endpoint/{endpoint} has no live replica in {environment}",
            hint="`modelplane status` shows its replicas; apply again to start them",
        )
    engine = "simulator" if any("simulator" in part for part in live[0].cmdline) else "vllm"
    what = "the local vLLM simulator" if engine == "simulator" else "vLLM"
    return Target(live[0].url, served, engine, f"{what} on {host()} (replica {live[0].port} of revision {stable})")
