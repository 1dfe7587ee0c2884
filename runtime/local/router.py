"""The local stack's router: one process per endpoint in front of its replica processes.

For each request: pick the revision by weight first (stable vs canary: decided
before balancing, so a slow canary cannot hide by getting less traffic), then a
replica of it by the endpoint's policy: power of two choices on in-flight
requests with a latency tie-break (default), round robin, or least request.
A replica new to the router ramps up over ``slow_start`` (its in-flight count
weighs more while it warms), and none is given more than its revision's
concurrency cap (``capacity``): a request that finds every replica of its
revision full goes to another revision with room (the traffic share gate of
canary analysis sees that), or is shed at once with a 503 when none has any.
Requests marked ``x-modelplane-synthetic: 1`` (a rollout's generated traffic)
are counted apart, and may pin a revision (``x-modelplane-pin-revision``) and
are never moved to another, only with the admin token: from any other client
the mark is stripped and the request counts as real (a synthetic 4xx is no
evidence either way, so a client cannot fail a canary by faking them). Replicas are discovered
from the registry file (re-read when it changes), health-checked every second,
and ejected for a while after consecutive failures. Retries go to another
replica on connection errors and the spec's ``retry_on`` statuses.

``/metrics`` exposes per-revision counters and a latency histogram with buckets
fine enough for a p99 < 1 s gate; ``/admin/stats?window=S`` gives the same per
revision over the last S seconds (what canary analysis reads);
``/admin/weights`` sets the split; ``/admin/state`` shows everything. The
``/admin/*`` endpoints require the per-router token from the registry
(``Authorization: Bearer <token>``; the registry file is 0600).

Only the replica's failures count against it (ejection) and against its
revision (a canary's error rate): upstream 5xx, connection errors and
timeouts. A malformed request is answered here with a 4xx in OpenAI's error
shape and reaches no replica; a client that goes away mid-response is not a
replica failure either. Connections are capped, and a request's headers and
body must arrive within deadlines (``conn_guard``), so slow or abandoned
clients cannot hold the router's file descriptors.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hmac
import itertools
import json
import math
import random
import resource
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from modelplane.runtime.local.conn_guard import ConnectionGuard
from modelplane.runtime.local.openai_api import (
    COMPLETION_PATHS,
    MAX_BODY,
    ClientError,
    client_error_response,
    error_body,
    error_response,
    parse_completion,
    read_limited,
)
from modelplane.runtime.local.registry import ADMIN_HEADER, Registry, read

BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0, 5.0]
EJECT_AFTER = 3
EJECT_FOR_S = 5.0
EWMA_ALPHA = 0.2
SLOW_EJECT_RATIO = 3.0
"""A replica whose latency (EWMA) is this many times its revision's median is ejected for a while."""
SLOW_EJECT_FLOOR_MS = 50.0
SYNTHETIC_HEADER = "x-modelplane-synthetic"
PIN_HEADER = "x-modelplane-pin-revision"
MARKERS = {SYNTHETIC_HEADER, PIN_HEADER}
"""The router's own request headers: replicas never see them."""
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}
MAX_CONNECTIONS = 4096
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
IDLE_TIMEOUT_S = 30.0
CLIENT_CLOSED = 499
"""What a revision's stats record when the client left mid-response (nginx's code): not an error."""
LATENCY_SAMPLE = 2000
"""Most per-request latencies a revision's window stats carry (for the canary's rank test)."""


class _ClientGone(Exception):
    """Writing to the client failed: the client's doing, not the replica's."""


@dataclass
class Backend:
    url: str
    pid: int
    inflight: int = 0
    healthy: bool = True
    failures: int = 0
    probe_failures: int = 0
    ejected_until: float = 0.0
    cap: int | None = None
    joined: float = field(default_factory=time.monotonic)
    ewma_ms: float = 0.0
    slow_ejections: int = 0
    draining: bool = False

    def usable(self, now: float) -> bool:
        return self.healthy and now >= self.ejected_until and not self.draining

    def has_room(self) -> bool:
        return self.cap is None or self.inflight < self.cap

    def load(self, now: float, slow_start: float) -> float:
        """In-flight requests, weighed up while the replica is within its slow start (as Envoy's ramp)."""
        if slow_start <= 0:
            return float(self.inflight)
        ramp = min(1.0, max(0.1, (now - self.joined) / slow_start))
        return (self.inflight + 1) / ramp - 1

    def observed(self, ms: float) -> None:
        self.ewma_ms = ms if self.ewma_ms == 0.0 else (1 - EWMA_ALPHA) * self.ewma_ms + EWMA_ALPHA * ms


@dataclass
class RevisionStats:
    counts: dict[int, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    n: int = 0
    synthetic: int = 0
    recent: deque[tuple[float, float, int, bool]] = field(default_factory=lambda: deque(maxlen=200_000))
    """(when, seconds, status, synthetic) of each request, for the windows canary analysis reads."""

    def observe(self, status: int, seconds: float, synthetic: bool = False) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        i = bisect.bisect_left(BUCKETS, seconds)
        if i < len(BUCKETS):
            self.buckets[i] += 1
        self.total += seconds
        self.n += 1
        self.synthetic += synthetic
        self.recent.append((time.monotonic(), seconds, status, synthetic))

    def window(self, seconds: float) -> dict[str, Any]:
        """The last ``seconds``: requests, errors (replica 5xx) and latency quantiles of successful requests.

        A request the rollout made itself that the replica refused (4xx: a prompt too long, a wrong model) is
        evidence neither way: it is left out of the sample (``synthetic_refused``), so nobody can fail or pass
        a revision with such requests. Latency is judged on successful (< 400) requests only: a dead revision's
        instant 502s are not a fast baseline.
        """
        since = time.monotonic() - seconds
        inside = [e for e in self.recent if e[0] >= since]
        refused = sum(1 for e in inside if e[3] and 400 <= e[2] < 500 and e[2] != CLIENT_CLOSED)
        counted = [e for e in inside if not (e[3] and 400 <= e[2] < 500 and e[2] != CLIENT_CLOSED)]
        lat = sorted(e[1] for e in counted if e[2] < 400 or e[2] == CLIENT_CLOSED)
        errors = sum(1 for e in counted if e[2] >= 500)
        synthetic = sum(1 for e in counted if e[3])
        n = len(counted)
        ok = len(lat)

        def q(p: float) -> float | None:
            return round(lat[min(ok - 1, int(p * ok))] * 1000, 2) if ok else None

        # the canary's rank test (runtime/latency_test.py) reads every successful request's latency, in
        # arrival order, thinned evenly to at most LATENCY_SAMPLE so a window's stats stay small in history
        good = [e[1] for e in counted if e[2] < 400 or e[2] == CLIENT_CLOSED]
        stride = max(1, math.ceil(len(good) / LATENCY_SAMPLE))
        return {
            "requests": n,
            "real": n - synthetic,
            "synthetic": synthetic,
            "synthetic_refused": refused,
            "succeeded": ok,
            "errors": errors,
            "error_rate": errors / n if n else 0.0,
            "p50_ms": q(0.5),
            "p99_ms": q(0.99),
            "max_ms": round(lat[-1] * 1000, 2) if ok else None,
            "latencies_ms": [round(x * 1000, 2) for x in good[::stride]],
        }


class Router:
    def __init__(self, registry: Path, body_timeout: float = BODY_TIMEOUT_S) -> None:
        self.registry_path = registry
        self.version: tuple[int, int, int] = (0, 0, 0)
        self.body_timeout = body_timeout
        self.guard: ConnectionGuard | None = None
        self.client_errors: dict[int, int] = {}
        """Requests answered 4xx here (malformed, unauthorised): they reach no replica and no revision's stats."""
        self.reg = Registry(endpoint="?", environment="?")
        self.backends: dict[str, list[Backend]] = {}
        self.weights: dict[str, int] = {}
        self.stats: dict[str, RevisionStats] = {}
        self.shed = 0
        """Requests answered 503 here because every replica with weight was at its concurrency cap."""
        self.rr = itertools.count()
        self.session: aiohttp.ClientSession | None = None

    def reload(self) -> None:
        try:
            st = self.registry_path.stat()
        except OSError:
            return
        # the registry is replaced, never edited in place: a new inode is a new version, whatever the clock
        version = (st.st_ino, st.st_mtime_ns, st.st_size)
        if version == self.version:
            return
        reg = read(self.registry_path)
        if reg is None:
            return
        self.version = version
        self.reg = reg
        old = {b.url: b for bs in self.backends.values() for b in bs}
        # keep the in-flight counts and health of replicas that stay: a reload drops nothing
        # a replica the autoscaler is starting joins once ready (then with slow start, from that moment)
        self.backends = {
            name: [old.get(r.url) or Backend(r.url, r.pid) for r in rev.replicas if r.ready]
            for name, rev in reg.revisions.items()
        }
        for name, rev in reg.revisions.items():
            draining = {r.url for r in rev.replicas if r.draining}
            for b in self.backends[name]:
                b.cap = rev.max_inflight
                b.draining = b.url in draining
        self.weights = {name: rev.weight for name, rev in reg.revisions.items()}
        # a revision torn down is gone for good (a new rollout gets a new name): its stats go with it, or a
        # long-lived router keeps every past revision's window of requests
        self.stats = {name: st for name, st in self.stats.items() if name in reg.revisions}

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
        if not self._can_take(chosen, now):
            # nothing healthy with room in the chosen revision: serve from another rather than fail or queue
            others = [n for n in live if n != chosen and self._can_take(n, now)]
            return others[0] if others else chosen
        return chosen

    def _can_take(self, revision: str, now: float) -> bool:
        return any(b.usable(now) and b.has_room() for b in self.backends.get(revision, []))

    def pick_backend(self, revision: str, exclude: set[str]) -> Backend | None:
        now = time.monotonic()
        every = [b for b in self.backends.get(revision, []) if b.url not in exclude and b.has_room() and not b.draining]
        # panic mode (as Envoy's): with nothing healthy, trying a replica beats refusing the request
        pool = [b for b in every if b.usable(now)] or every
        if not pool:
            return None
        policy = self.reg.policy
        if policy == "round_robin":
            return pool[next(self.rr) % len(pool)]
        slow_start = self.reg.slow_start_s
        if policy == "least_request":
            return min(pool, key=lambda b: (b.load(now, slow_start), random.random()))
        if len(pool) == 1:
            return pool[0]
        a, b = random.sample(pool, 2)
        la, lb = a.load(now, slow_start), b.load(now, slow_start)
        if la != lb:
            return a if la < lb else b
        return a if a.ewma_ms <= b.ewma_ms else b  # equal queues: the one answering faster (Prequal's tie-break)

    def full(self, revision: str) -> bool:
        """Every replica of ``revision`` is at its concurrency cap (so the request is shed, not queued)."""
        bs = [b for b in self.backends.get(revision, []) if not b.draining]
        return bool(bs) and not any(b.has_room() for b in bs)

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
            for bs in self.backends.values():
                self.eject_slow(bs)
            await asyncio.sleep(0.5)

    def eject_slow(self, backends: list[Backend]) -> list[Backend]:
        """Outlier ejection on latency: P2C alone still gives a 3x slower replica a third of a fair share,
        enough to hold p99 at its latency (benchmarks/bench_fleet.py). At most a third of a revision's
        replicas are out at once; an ejected one comes back at the median and must earn its ejection again."""
        now = time.monotonic()
        timed = sorted(b.ewma_ms for b in backends if b.ewma_ms > 0)
        if len(timed) < 3:
            return []
        median = timed[(len(timed) - 1) // 2]  # the lower median: a slow half does not set the norm
        room = max(1, len(backends) // 3) - sum(1 for b in backends if now < b.ejected_until)
        out = []
        for b in sorted(backends, key=lambda b: -b.ewma_ms):
            if room <= 0 or b.ewma_ms < SLOW_EJECT_RATIO * median or b.ewma_ms - median < SLOW_EJECT_FLOOR_MS:
                break
            if now < b.ejected_until:
                continue
            b.ejected_until = now + EJECT_FOR_S
            b.ewma_ms = median
            b.slow_ejections += 1
            room -= 1
            out.append(b)
        return out

    async def read_body(self, request: web.Request) -> bytes:
        """The request body within the body deadline (a client that stalls mid-body gets a 408); one over
        ``MAX_BODY`` is read to its end and dropped, then answered with a JSON 413 (``read_limited``)."""
        try:
            async with asyncio.timeout(self.body_timeout):
                body, size = await read_limited(request, MAX_BODY)
        except TimeoutError:
            raise ClientError(
                f"the request body was not received within {self.body_timeout:g} s", None, "request_timeout", 408
            ) from None
        if body is None:
            raise ClientError(
                f"the request body is {size} bytes, over the router's limit of {MAX_BODY} bytes: send less "
                "(split a batch of prompts into several requests)",
                None,
                "request_entity_too_large",
                413,
            )
        return body

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        self.reload()
        assert self.session is not None
        body = await self.read_body(request)
        chat = COMPLETION_PATHS.get(request.path)
        if chat is not None and request.method == "POST":
            parse_completion(body, chat)  # a malformed request stops here: no replica, no revision counts it
        start = time.monotonic()
        pin = request.headers.get(PIN_HEADER)
        # the control headers are the rollout's: honoured only with this router's admin token. Without it a
        # synthetic mark is dropped (the request counts as the real traffic it is), and a pin is refused
        controls = pin is not None or SYNTHETIC_HEADER in request.headers or ADMIN_HEADER in request.headers
        admin = controls and self._authorised(request) is None
        synthetic = admin and request.headers.get(SYNTHETIC_HEADER) == "1"
        if pin is not None:
            refused = self._authorised(request)
            if refused is not None:
                return refused
            if pin not in self.backends:
                raise ClientError(f"{PIN_HEADER}: no revision {pin!r} here", PIN_HEADER, "unknown_revision", 404)
            revision: str | None = pin
        else:
            revision = self.pick_revision()
        if revision is None:
            return error_response(503, "no revision has traffic weight", code="no_traffic")
        if self.full(revision):
            self.shed += 1
            if pin is None:  # the rollout's own generator overloading a small canary is not the canary's error
                self._observe(revision, 503, time.monotonic() - start, synthetic)
            return error_response(
                503,
                f"every replica of revision {revision} is at its concurrency cap (capacity); retry shortly",
                code="overloaded",
                headers={"retry-after": "1", "x-modelplane-revision": revision},
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
                # a request that carried the router's admin token never passes it on
                drop = HOP_HEADERS | MARKERS | ({ADMIN_HEADER.lower()} if admin else set())
                headers = {k: v for k, v in request.headers.items() if k.lower() not in drop}
                async with self.session.request(
                    request.method, backend.url + request.path_qs, data=body, headers=headers
                ) as up:
                    status = up.status
                    if status in self.reg.retry_on and len(tried) <= self.reg.max_retries:
                        if status >= 500:  # a 429 is the replica pacing us, not failing
                            self.failed(backend)
                        continue
                    out_headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP_HEADERS}
                    out_headers["x-modelplane-revision"] = revision
                    response = web.StreamResponse(status=status, headers=out_headers)
                    try:
                        await response.prepare(request)
                        async for chunk in up.content.iter_any():
                            try:
                                await response.write(chunk)
                            except ConnectionError:
                                raise _ClientGone from None
                        await response.write_eof()
                    except ConnectionError:
                        raise _ClientGone from None
                    if status >= 500:
                        self.failed(backend)
                    else:
                        backend.failures = 0
                    break
            except _ClientGone:
                status = CLIENT_CLOSED
                break
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError):
                self.failed(backend)
                status = 502
                if response is not None:  # the client already has the headers: nothing left to retry
                    break
                continue
            finally:
                backend.inflight -= 1
                if status < 500:
                    backend.observed((time.monotonic() - start) * 1000)
        self._observe(revision, status, time.monotonic() - start, synthetic)
        if response is None:
            return web.json_response(
                error_body(f"no replica of revision {revision} answered", "server_error", code="bad_gateway"),
                status=status if status >= 500 else 502,
                headers={"x-modelplane-revision": revision},
            )
        return response

    def _observe(self, revision: str, status: int, seconds: float, synthetic: bool) -> None:
        if revision in self.reg.revisions:  # one torn down while the request ran keeps no stats
            self.stats.setdefault(revision, RevisionStats()).observe(status, seconds, synthetic)

    def _authorised(self, request: web.Request) -> web.Response | None:
        """None when the request carries this router's admin token; else the refusal."""
        self.reload()  # a router started a moment ago may not have read the registry with its token yet
        expected = self.reg.router.token if self.reg.router is not None else ""
        given = request.headers.get(ADMIN_HEADER, "")
        if not expected:
            return error_response(
                403,
                f"this router has no admin token: {self.registry_path} names none "
                "(it was started by an older modelplane; `modelplane down` then `modelplane apply` restarts it)",
                code="no_admin_token",
            )
        if not given.startswith("Bearer "):
            return error_response(
                401,
                f"{request.path} needs this router's admin token: send `{ADMIN_HEADER}: Bearer <token>`, "
                f"with the token from router.token in {self.registry_path}",
                code="missing_admin_token",
                headers={"WWW-Authenticate": 'Bearer realm="modelplane-router"'},
            )
        if not hmac.compare_digest(given.removeprefix("Bearer ").encode(), expected.encode()):
            return error_response(
                403,
                f"wrong admin token for {request.path}: it is router.token in {self.registry_path}",
                code="invalid_admin_token",
            )
        return None

    async def admin_weights(self, request: web.Request) -> web.Response:
        raw = await self.read_body(request)
        try:
            weights = json.loads(raw)
        except (ValueError, RecursionError):
            raise ClientError("the body must be a JSON object of revision -> weight", code="invalid_json") from None
        bad = (
            [
                f"{k}: {v!r}"
                for k, v in weights.items()
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100
            ]
            if isinstance(weights, dict)
            else ["the body is not a JSON object"]
        )
        if bad:
            raise ClientError(
                "weights must be a JSON object of revision -> integer 0..100; wrong: " + ", ".join(bad[:5]),
                "weights",
                "invalid_type",
            )
        self.weights.update({str(k): int(v) for k, v in weights.items()})
        return web.json_response(self.weights)

    async def admin_stats(self, request: web.Request) -> web.Response:
        try:
            window = float(request.query.get("window", "60"))
        except ValueError:
            raise ClientError(
                f"window must be a number of seconds, got {request.query['window']!r}", "window"
            ) from None
        return web.json_response({r: s.window(window) for r, s in self.stats.items()})

    async def admin_state(self, _: web.Request) -> web.Response:
        now = time.monotonic()
        return web.json_response(
            {
                "endpoint": self.reg.endpoint,
                "policy": self.reg.policy,
                "weights": self.weights,
                "revisions": {
                    r: [
                        {
                            "url": b.url,
                            "pid": b.pid,
                            "inflight": b.inflight,
                            "healthy": b.usable(now),
                            "cap": b.cap,
                            "ewma_ms": round(b.ewma_ms, 2),
                            "slow_ejections": b.slow_ejections,
                            "draining": b.draining,
                        }
                        for b in bs
                    ]
                    for r, bs in self.backends.items()
                },
                "shed": self.shed,
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
        lines.append("# TYPE modelplane_router_synthetic_requests_total counter")
        lines += [
            f'modelplane_router_synthetic_requests_total{{revision="{r}"}} {s.synthetic}' for r, s in self.stats.items()
        ]
        lines += ["# TYPE modelplane_router_shed_total counter", f"modelplane_router_shed_total {self.shed}"]
        lines.append("# TYPE modelplane_router_replicas gauge")
        for name, rev in self.reg.revisions.items():
            states = {"ready": 0, "starting": 0, "draining": 0}
            for rep in rev.replicas:
                states["draining" if rep.draining else "ready" if rep.ready else "starting"] += 1
            lines += [f'modelplane_router_replicas{{revision="{name}",state="{k}"}} {v}' for k, v in states.items()]
        last: dict[str, int] = {e.revision: e.replicas_to for e in self.reg.scaling}
        lines.append("# TYPE modelplane_autoscaler_desired_replicas gauge")
        lines += [f'modelplane_autoscaler_desired_replicas{{revision="{r}"}} {n}' for r, n in last.items()]
        lines.append("# TYPE modelplane_autoscaler_decisions gauge")
        lines.append(f"modelplane_autoscaler_decisions {len(self.reg.scaling)}")
        lines.append("# TYPE modelplane_router_weight gauge")
        lines += [f'modelplane_router_weight{{revision="{r}"}} {w}' for r, w in self.weights.items()]
        lines.append("# TYPE modelplane_router_client_errors_total counter")
        lines += [f'modelplane_router_client_errors_total{{code="{c}"}} {n}' for c, n in self.client_errors.items()]
        if self.guard is not None:
            lines += [
                "# TYPE modelplane_router_open_connections gauge",
                f"modelplane_router_open_connections {len(self.guard.open)}",
                "# TYPE modelplane_router_connections_refused_total counter",
                f"modelplane_router_connections_refused_total {self.guard.refused}",
                "# TYPE modelplane_router_connections_timed_out_total counter",
                f"modelplane_router_connections_timed_out_total {self.guard.timed_out}",
            ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(router: Router) -> web.Application:
    async def on_start(app: web.Application) -> None:
        router.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30))
        router.reload()
        app["health"] = asyncio.create_task(router.health_loop())

    async def on_stop(app: web.Application) -> None:
        app["health"].cancel()
        if router.session is not None:
            await router.session.close()

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard = router.guard
        if guard is not None:  # the headers are in: the header deadline no longer applies to this connection
            guard.request_started(request.transport)
        try:
            if request.path.startswith("/admin/"):
                refused = router._authorised(request)
                if refused is not None:
                    router.client_errors[refused.status] = router.client_errors.get(refused.status, 0) + 1
                    return refused
            return await handler(request)
        except ClientError as exc:
            router.client_errors[exc.status] = router.client_errors.get(exc.status, 0) + 1
            resp = client_error_response(exc, {"x-modelplane-error-source": "router"})
            if exc.status == 408:
                resp.force_close()  # the rest of a stalled body may still come: do not read it as a request
            return resp
        except web.HTTPException as exc:  # e.g. 413 from a body over client_max_size: same error shape
            if exc.status < 400:
                raise
            router.client_errors[exc.status] = router.client_errors.get(exc.status, 0) + 1
            return error_response(exc.status, exc.text or exc.reason, code=exc.reason.lower().replace(" ", "_"))
        finally:
            if guard is not None:
                guard.request_finished(request.transport)

    # proxied bodies are read by read_body (drained past MAX_BODY); the limit here is the admin API's
    app = web.Application(client_max_size=MAX_BODY, middlewares=[guarded])
    app.on_startup.append(on_start)
    app.on_cleanup.append(on_stop)
    app.router.add_get("/metrics", router.metrics)
    app.router.add_get("/admin/stats", router.admin_stats)
    app.router.add_get("/admin/state", router.admin_state)
    app.router.add_post("/admin/weights", router.admin_weights)
    app.router.add_route("*", "/{tail:.*}", router.proxy)
    return app


def _fd_budget(wanted: int) -> int:
    """Connections the router can hold: each proxied request also holds an upstream socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(1, min(wanted, (soft - 64) // 2))


async def serve(router: Router, port: int, max_connections: int, header_timeout: float, idle_timeout: float) -> None:
    """Serve until SIGTERM/SIGINT, through the connection guard (aiohttp's own server has no header deadline)."""
    runner = web.AppRunner(make_app(router), access_log=None, keepalive_timeout=idle_timeout)
    await runner.setup()
    assert runner.server is not None
    cap = _fd_budget(max_connections)
    refused = error_body(
        f"the router of endpoint/{router.reg.endpoint} is at its limit of {cap} open connections; retry shortly "
        "(or raise the router's --max-connections)",
        "server_error",
        code="too_many_connections",
    )
    router.guard = ConnectionGuard(runner.server, cap, header_timeout, idle_timeout, refused)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(router.guard.protocol, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"modelplane router for {router.registry_path.stem} on 127.0.0.1:{port} "
        f"(at most {cap} connections; headers within {header_timeout:g} s, bodies within {router.body_timeout:g} s)",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="modelplane local router (one per endpoint)")
    ap.add_argument("--registry", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS, help="past it, new connections get 503")
    ap.add_argument("--header-timeout", type=float, default=HEADER_TIMEOUT_S, help="seconds to send the headers")
    ap.add_argument("--body-timeout", type=float, default=BODY_TIMEOUT_S, help="seconds to send the body")
    ap.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S, help="seconds a keep-alive may idle")
    args = ap.parse_args(argv)
    router = Router(args.registry, args.body_timeout)
    router.reload()  # for the endpoint's name in messages; the app reloads again on start
    asyncio.run(serve(router, args.port, args.max_connections, args.header_timeout, args.idle_timeout))


if __name__ == "__main__":
    main()
