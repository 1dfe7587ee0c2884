"""The local stack's router: one process per endpoint in front of its replica processes.

For each request: pick the revision by weight first (stable vs canary: decided
before balancing, so a slow canary cannot hide by getting less traffic), then a
replica of it by the endpoint's policy: power of two choices on in-flight
requests (default), round robin, or least request. Replicas are discovered
from the registry file (re-read when it changes), health-checked every second,
and ejected for a while after consecutive failures. Retries go to another
replica on connection errors and the spec's ``retry_on`` statuses.

``/metrics`` exposes per-revision counters and a latency histogram with buckets
fine enough for a p99 < 1 s gate; ``/admin/stats?window=S`` gives the same per
revision over the last S seconds (what canary analysis reads);
``/admin/weights`` sets the split; ``/admin/state`` shows everything.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from modelplane.runtime.local.registry import Registry, read

BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0, 5.0]
EJECT_AFTER = 3
EJECT_FOR_S = 5.0
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


@dataclass
class Backend:
    url: str
    pid: int
    inflight: int = 0
    healthy: bool = True
    failures: int = 0
    probe_failures: int = 0
    ejected_until: float = 0.0

    def usable(self, now: float) -> bool:
        return self.healthy and now >= self.ejected_until


@dataclass
class RevisionStats:
    counts: dict[int, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    n: int = 0
    recent: deque[tuple[float, float, bool]] = field(default_factory=lambda: deque(maxlen=200_000))

    def observe(self, status: int, seconds: float) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        i = bisect.bisect_left(BUCKETS, seconds)
        if i < len(BUCKETS):
            self.buckets[i] += 1
        self.total += seconds
        self.n += 1
        self.recent.append((time.monotonic(), seconds, status < 500))

    def window(self, seconds: float) -> dict[str, Any]:
        since = time.monotonic() - seconds
        lat = sorted(s for t, s, _ in self.recent if t >= since)
        errors = sum(1 for t, _, ok in self.recent if t >= since and not ok)
        n = len(lat)

        def q(p: float) -> float | None:
            return round(lat[min(n - 1, int(p * n))] * 1000, 2) if n else None

        return {
            "requests": n,
            "errors": errors,
            "error_rate": errors / n if n else 0.0,
            "p50_ms": q(0.5),
            "p99_ms": q(0.99),
            "max_ms": round(lat[-1] * 1000, 2) if n else None,
        }


class Router:
    def __init__(self, registry: Path) -> None:
        self.registry_path = registry
        self.mtime = 0.0
        self.reg = Registry(endpoint="?", environment="?")
        self.backends: dict[str, list[Backend]] = {}
        self.weights: dict[str, int] = {}
        self.stats: dict[str, RevisionStats] = {}
        self.rr = itertools.count()
        self.session: aiohttp.ClientSession | None = None

    def reload(self) -> None:
        try:
            mtime = self.registry_path.stat().st_mtime
        except OSError:
            return
        if mtime == self.mtime:
            return
        reg = read(self.registry_path)
        if reg is None:
            return
        self.mtime = mtime
        self.reg = reg
        old = {b.url: b for bs in self.backends.values() for b in bs}
        # keep the in-flight counts and health of replicas that stay: a reload drops nothing
        self.backends = {
            name: [old.get(r.url) or Backend(r.url, r.pid) for r in rev.replicas] for name, rev in reg.revisions.items()
        }
        self.weights = {name: rev.weight for name, rev in reg.revisions.items()}

    def pick_revision(self) -> str | None:
        now = time.monotonic()
        live = {r: w for r, w in self.weights.items() if w > 0}
        if not live:
            return None
        r = random.random() * sum(live.values())
        for name, w in live.items():
            r -= w
            if r < 0:
                chosen = name
                break
        else:
            chosen = next(iter(live))
        if not any(b.usable(now) for b in self.backends.get(chosen, [])):
            # the chosen revision has nothing healthy: serve from another rather than fail
            others = [n for n in live if any(b.usable(now) for b in self.backends.get(n, []))]
            return others[0] if others else chosen
        return chosen

    def pick_backend(self, revision: str, exclude: set[str]) -> Backend | None:
        now = time.monotonic()
        every = [b for b in self.backends.get(revision, []) if b.url not in exclude]
        # panic mode (as Envoy's): with nothing healthy, trying a replica beats refusing the request
        pool = [b for b in every if b.usable(now)] or every
        if not pool:
            return None
        policy = self.reg.policy
        if policy == "round_robin":
            return pool[next(self.rr) % len(pool)]
        if policy == "least_request":
            return min(pool, key=lambda b: (b.inflight, random.random()))
        if len(pool) == 1:
            return pool[0]
        a, b = random.sample(pool, 2)
        return a if a.inflight <= b.inflight else b

    def failed(self, b: Backend) -> None:
        b.failures += 1
        if b.failures >= EJECT_AFTER:
            b.ejected_until = time.monotonic() + EJECT_FOR_S
            b.failures = 0

    async def health_loop(self) -> None:
        assert self.session is not None
        while True:
            self.reload()
            for b in [b for bs in self.backends.values() for b in bs]:
                try:
                    async with self.session.get(b.url + "/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        ok = r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                # one slow probe on a busy machine is not a dead replica: two in a row are
                b.probe_failures = 0 if ok else b.probe_failures + 1
                b.healthy = b.probe_failures < 2
            await asyncio.sleep(0.5)

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        self.reload()
        assert self.session is not None
        body = await request.read()
        start = time.monotonic()
        revision = self.pick_revision()
        if revision is None:
            return web.json_response(
                {"error": {"message": "no revision has traffic weight", "type": "Unavailable"}}, status=503
            )
        tried: set[str] = set()
        status = 503
        response: web.StreamResponse | None = None
        for _ in range(self.reg.max_retries + 1):
            backend = self.pick_backend(revision, tried)
            if backend is None:
                break
            tried.add(backend.url)
            backend.inflight += 1
            try:
                headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
                async with self.session.request(
                    request.method, backend.url + request.path_qs, data=body, headers=headers
                ) as up:
                    status = up.status
                    if status in self.reg.retry_on and len(tried) <= self.reg.max_retries:
                        self.failed(backend)
                        continue
                    out_headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP_HEADERS}
                    out_headers["x-modelplane-revision"] = revision
                    response = web.StreamResponse(status=status, headers=out_headers)
                    await response.prepare(request)
                    async for chunk in up.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                    if status >= 500:
                        self.failed(backend)
                    else:
                        backend.failures = 0
                    break
            except (aiohttp.ClientConnectionError, TimeoutError):
                self.failed(backend)
                status = 502
                if response is not None:  # the client already has the headers: nothing left to retry
                    break
                continue
            finally:
                backend.inflight -= 1
        self.stats.setdefault(revision, RevisionStats()).observe(status, time.monotonic() - start)
        if response is None:
            return web.json_response(
                {"error": {"message": f"no replica of revision {revision} answered", "type": "BadGateway"}},
                status=status if status >= 500 else 502,
                headers={"x-modelplane-revision": revision},
            )
        return response

    async def admin_weights(self, request: web.Request) -> web.Response:
        weights = await request.json()
        self.weights.update({str(k): int(v) for k, v in weights.items()})
        return web.json_response(self.weights)

    async def admin_stats(self, request: web.Request) -> web.Response:
        window = float(request.query.get("window", "60"))
        return web.json_response({r: s.window(window) for r, s in self.stats.items()})

    async def admin_state(self, _: web.Request) -> web.Response:
        now = time.monotonic()
        return web.json_response(
            {
                "endpoint": self.reg.endpoint,
                "policy": self.reg.policy,
                "weights": self.weights,
                "revisions": {
                    r: [{"url": b.url, "pid": b.pid, "inflight": b.inflight, "healthy": b.usable(now)} for b in bs]
                    for r, bs in self.backends.items()
                },
            }
        )

    async def metrics(self, _: web.Request) -> web.Response:
        lines = ["# TYPE modelplane_router_requests_total counter"]
        for r, s in self.stats.items():
            lines += [f'modelplane_router_requests_total{{revision="{r}",code="{c}"}} {n}' for c, n in s.counts.items()]
        lines.append("# TYPE modelplane_router_request_duration_seconds histogram")
        for r, s in self.stats.items():
            acc = 0
            for b, c in zip(BUCKETS, s.buckets, strict=True):
                acc += c
                lines.append(f'modelplane_router_request_duration_seconds_bucket{{revision="{r}",le="{b}"}} {acc}')
            lines.append(f'modelplane_router_request_duration_seconds_bucket{{revision="{r}",le="+Inf"}} {s.n}')
            lines.append(f'modelplane_router_request_duration_seconds_sum{{revision="{r}"}} {s.total}')
            lines.append(f'modelplane_router_request_duration_seconds_count{{revision="{r}"}} {s.n}')
        lines.append("# TYPE modelplane_router_weight gauge")
        lines += [f'modelplane_router_weight{{revision="{r}"}} {w}' for r, w in self.weights.items()]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def make_app(router: Router) -> web.Application:
    async def on_start(app: web.Application) -> None:
        router.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30))
        router.reload()
        app["health"] = asyncio.create_task(router.health_loop())

    async def on_stop(app: web.Application) -> None:
        app["health"].cancel()
        if router.session is not None:
            await router.session.close()

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.on_startup.append(on_start)
    app.on_cleanup.append(on_stop)
    app.router.add_get("/metrics", router.metrics)
    app.router.add_get("/admin/stats", router.admin_stats)
    app.router.add_get("/admin/state", router.admin_state)
    app.router.add_post("/admin/weights", router.admin_weights)
    app.router.add_route("*", "/{tail:.*}", router.proxy)
    return app


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="modelplane local router (one per endpoint)")
    ap.add_argument("--registry", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    router = Router(args.registry)
    print(f"modelplane router for {args.registry.stem} on 127.0.0.1:{args.port}", flush=True)
    web.run_app(make_app(router), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
