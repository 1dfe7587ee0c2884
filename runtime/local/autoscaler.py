"""The local stack's autoscaler: one process per endpoint, the policy the Kubernetes stack renders as an HPA.

Every tick it reads the spec's metric per revision (stable and canary scale
independently): requests in flight at the router (``concurrency``), vLLM's
``num_requests_waiting`` on each replica (``queue_depth``), requests per second
at the router (``qps``) or ``kv_cache_usage_perc`` (``kv_usage``). The desired
count is the HPA's, ``ceil(total / target)`` (``ceil(n x mean / target)`` for
kv usage), between ``min_replicas`` (or more, what the rollout's capacity gate
asked for) and ``max_replicas``. As an HPA does, scale-up takes the lowest
recommendation over its stabilization window and scale-down the highest
over its own, and neither changes more than ``max_percent_per_period`` of the
replicas in one period (at least one).

A new replica is recorded not ready; the router sends it nothing until its
model endpoint answers, then it joins with slow start. A replica taken away
is marked draining first (the router sends it nothing new) and stopped once
its requests are done (or after ``health.drain_grace``). Decisions go in the
registry (``status`` shows them; the router's /metrics counts them). Every
change is a read-modify-write of the registry under its lock, so the
rollout's own steps (start, promote, teardown) and this loop never undo each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from modelplane.compiler.report.words import plural, plural_of
from modelplane.runtime import secrets as secret_values
from modelplane.runtime.local import drift, prom_text
from modelplane.runtime.local import registry as regs
from modelplane.runtime.local.registry import Autoscaling, Registry, Replica, ScalingEvent
from modelplane.runtime.procs import free_port, is_ours, terminate

TICK_S = 0.5
SMOOTH_S = 3.0
"""Metric samples are averaged over this long (an HPA reads a scrape-interval average, not one instant)."""
EVENTS_KEPT = 50
SCALING_ROLES = ("stable", "canary")
BACKOFF_S = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Delay before replacing a revision's dead replica, by how many it lost in the last ``BACKOFF_RESET_S``:
the first at once, a replica that keeps dying (a bad engine flag, no memory) ever more slowly."""
BACKOFF_RESET_S = 120.0


@dataclass
class RevisionState:
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    changes: deque[tuple[float, int]] = field(default_factory=deque)
    """(time, +added / -removed) within the longest period, for the rate limits."""


def desired(total: float, replicas: int, metric: str, target: float) -> int:
    """The HPA's count for a metric total (mean for kv usage) across ``replicas``."""
    if metric == "kv_usage":
        return math.ceil(replicas * total / target - 1e-9)
    return math.ceil(total / target - 1e-9)


def next_count(
    policy: Autoscaling, st: RevisionState, now: float, current: int, raw: int, floor: int
) -> tuple[int, str]:
    """Stabilize and rate-limit a raw recommendation: the count to have now, and why (empty when unchanged)."""
    lo, hi = max(1, policy.min_replicas, floor), policy.max_replicas
    raw = max(lo, min(hi, raw))
    st.recommendations.append((now, raw))
    keep = max(policy.up_stabilization_s, policy.down_stabilization_s, policy.up_period_s, policy.down_period_s)
    while st.recommendations and st.recommendations[0][0] < now - keep - TICK_S:
        st.recommendations.popleft()
    while st.changes and st.changes[0][0] < now - keep - TICK_S:
        st.changes.popleft()
    if current < lo:
        return lo, f"below the minimum {lo}"
    if current > hi:
        return hi, f"above the maximum {hi}"
    if raw > current:
        stable_up = min(r for t, r in st.recommendations if t >= now - policy.up_stabilization_s)
        added = sum(d for t, d in st.changes if d > 0 and t >= now - policy.up_period_s)
        base = current - added
        room = max(1, math.ceil(base * policy.up_percent / 100)) - added
        to = min(stable_up, current + max(0, room))
        if to > current:
            return to, ""
    elif raw < current:
        stable_down = max(r for t, r in st.recommendations if t >= now - policy.down_stabilization_s)
        removed = -sum(d for t, d in st.changes if d < 0 and t >= now - policy.down_period_s)
        base = current + removed
        room = max(1, math.floor(base * policy.down_percent / 100)) - removed
        to = max(stable_down, current - max(0, room))
        if to < current:
            return to, ""
    return current, ""


class Autoscaler:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = path.parents[3]  # <root>/.modelplane/local/<env>/<endpoint>.json
        self.environment = path.parent.name
        self.endpoint = path.stem
        self.state: dict[str, RevisionState] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None
        self.deaths: dict[str, deque[float]] = {}
        """Per revision, when its replicas were found dead (for the replacement backoff)."""

    async def run(self, stop: asyncio.Event) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        try:
            while not stop.is_set():
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError, ValueError):
                    await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_S)
        finally:
            for t in self.tasks:
                t.cancel()
            await self.session.close()

    async def tick(self) -> None:
        reg = regs.read(self.path)
        if reg is None or reg.autoscaling is None or reg.router is None:
            return
        policy = reg.autoscaling
        now = time.monotonic()
        self._watchdog(reg)
        waiting = await self._heal(reg, now)
        reg = regs.read(self.path) or reg
        live = await self._router_state(reg)
        for name, rev in reg.revisions.items():
            if rev.role not in SCALING_ROLES or not rev.command or name in waiting:
                continue
            st = self.state.setdefault(name, RevisionState())
            active = [r for r in rev.replicas if not r.draining]
            ready = [r for r in active if r.ready]
            value = await self._metric(reg, name, ready, live)
            if value is None:
                continue
            st.samples.append((now, value))
            while st.samples and st.samples[0][0] < now - SMOOTH_S:
                st.samples.popleft()
            total = sum(v for _, v in st.samples) / len(st.samples)
            raw = desired(total, max(1, len(ready)), policy.metric, policy.target)
            to, why = next_count(policy, st, now, len(active), raw, rev.min_replicas)
            if to == len(active):
                continue
            unit = "mean" if policy.metric == "kv_usage" else "total"
            reason = why or (
                f"{policy.metric} {unit} {total:.2f} over {plural(len(ready), 'ready replica')}, target {policy.target:g} "
                f"per replica: {raw} wanted"
            )
            st.changes.append((now, to - len(active)))
            if to > len(active):
                await self._scale_up(name, to - len(active), reason)
            else:
                await self._scale_down(name, len(active) - to, reason, policy.drain_grace_s)

    def _watchdog(self, reg: Registry) -> None:
        """A canary whose rollout stopped renewing its lease (workflow terminated, worker gone) goes back to
        the declared weights: stable takes all traffic. The rollout, if it resumes, sets its weight again."""
        if reg.canary_lease_until is None or time.time() < reg.canary_lease_until:
            return
        with regs.editing(self.root, self.environment, self.endpoint) as now:
            if now.canary_lease_until is None or time.time() < now.canary_lease_until:
                return  # renewed meanwhile
            stable = now.stable()
            moved = drift.declared_weights(now)
            if not moved:
                return  # nothing to go back to (yet): the canary keeps serving rather than nobody
            for n in moved:
                self._record(now, n, len(now.revisions[n].replicas), len(now.revisions[n].replicas),
                             f"the rollout's lease on the canary's weight expired: weight 0, {stable} takes 100%")  # fmt: skip
        print(f"lease expired: canary weight of {', '.join(moved)} back to 0, {stable} at 100%", flush=True)

    async def _heal(self, reg: Registry, now: float) -> set[str]:
        """Replace dead replicas (a crash, a kill) up to the floor, the first at once and then with backoff.
        Returns the revisions still waiting out their backoff (the scaling loop leaves them alone)."""
        waiting: set[str] = set()
        policy = reg.autoscaling
        for name, rev in reg.revisions.items():
            if rev.role not in SCALING_ROLES or not rev.command:
                continue
            dead = [r for r in rev.replicas if not r.draining and not is_ours(r)]
            deaths = self.deaths.setdefault(name, deque())
            while deaths and deaths[0] < now - BACKOFF_RESET_S:
                deaths.popleft()
            if dead:
                with regs.editing(self.root, self.environment, self.endpoint) as edit:
                    current = edit.revisions.get(name)
                    if current is None:
                        continue
                    gone = [r for r in current.replicas if not r.draining and not is_ours(r)]
                    for r in gone:
                        terminate(r, 0, f"replica {r.port} of {self.endpoint}/{name}")  # reaps it; never a stranger
                    current.replicas = [r for r in current.replicas if r not in gone]
                    if gone:
                        before = len(current.replicas) + len(gone)
                        ports = ", ".join(str(r.port) for r in gone)
                        self._record(
                            edit,
                            name,
                            before,
                            len(current.replicas),
                            f"{plural_of('replica', len(gone))} {ports} exited",
                        )
                deaths.extend([now] * len(gone))
                rev = current
            floor = max(1, rev.min_replicas, policy.min_replicas if policy else 1)
            active = len([r for r in rev.replicas if not r.draining])
            if active >= floor or not deaths:
                continue
            delay = BACKOFF_S[min(len(deaths) - 1, len(BACKOFF_S) - 1)]
            if now < deaths[-1] + delay:
                waiting.add(name)
                continue
            await self._scale_up(
                name, floor - active, f"replacing {plural(floor - active, 'dead replica')} (floor {floor})"
            )
        return waiting

    async def _router_state(self, reg: Registry) -> dict[str, object]:
        assert self.session is not None and reg.router is not None
        async with self.session.get(reg.router.url + "/admin/state", headers=regs.admin_headers(reg)) as r:
            state: dict[str, object] = await r.json()
        if self._needs_qps(reg):
            async with self.session.get(
                reg.router.url + f"/admin/stats?window={SMOOTH_S}", headers=regs.admin_headers(reg)
            ) as r:
                state["stats"] = await r.json()
        return state

    @staticmethod
    def _needs_qps(reg: Registry) -> bool:
        return reg.autoscaling is not None and reg.autoscaling.metric == "qps"

    async def _metric(self, reg: Registry, name: str, ready: list[Replica], live: dict[str, object]) -> float | None:
        policy = reg.autoscaling
        assert policy is not None and self.session is not None
        if policy.metric == "concurrency":
            backends = live.get("revisions", {}).get(name, [])  # type: ignore[attr-defined]
            urls = {r.url for r in ready}
            return float(sum(b["inflight"] for b in backends if b["url"] in urls))
        if policy.metric == "qps":
            stats = live.get("stats", {}).get(name, {})  # type: ignore[attr-defined]
            return float(stats.get("requests", 0)) / SMOOTH_S
        name_of = {"queue_depth": "vllm:num_requests_waiting", "kv_usage": "vllm:kv_cache_usage_perc"}[policy.metric]
        values = []
        for r in ready:
            # a replica whose page is unreachable or unparseable gives no reading (not a zero); the family is
            # read by its exact name, so vLLM's num_requests_waiting_by_reason split is not counted again
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, prom_text.MetricsUnreadable):
                async with self.session.get(r.url + "/metrics") as resp:
                    values += prom_text.samples(await resp.text(), name_of) or []
        if not values:
            return None
        return sum(values) / len(values) if policy.metric == "kv_usage" else sum(values)

    def _record(self, reg: Registry, name: str, before: int, after: int, reason: str) -> None:
        reg.scaling.append(
            ScalingEvent(at=time.time(), revision=name, replicas_from=before, replicas_to=after, reason=reason)
        )
        del reg.scaling[:-EVENTS_KEPT]

    async def _scale_up(self, name: str, n: int, reason: str) -> None:
        added: list[Replica] = []
        with regs.editing(self.root, self.environment, self.endpoint) as reg:
            rev = reg.revisions.get(name)
            if rev is None or not rev.command:
                return
            before = len([r for r in rev.replicas if not r.draining])
            if reg.autoscaling is not None:  # decided on an earlier read: never above the maximum as it is now
                n = min(n, reg.autoscaling.max_replicas - before)
            if n <= 0:
                return
            logs = regs.local_dir(self.root, self.environment) / "logs"
            for _ in range(n):
                port = free_port()
                cmd = [a.replace("{port}", str(port)) for a in rev.command]
                log = logs / f"{self.endpoint}-{name}-{port}.log"
                try:  # its secrets are read now, for it alone; the registry keeps the reference form
                    p = secret_values.spawn(cmd, rev.secrets, log, self.root, also=sorted(rev.secrets))
                except secret_values.SecretMissing as exc:
                    print(f"cannot add a replica to {name}: {exc}", flush=True)  # names the secret, not a value
                    break
                replica = Replica(pid=p.pid, port=port, log=str(log), started=p.started, cmdline=p.cmdline, ready=False)
                rev.replicas.append(replica)
                added.append(replica)
            self._record(reg, name, before, before + len(added), reason)
        for replica in added:
            self._spawn_task(self._join_when_ready(name, replica))

    async def _join_when_ready(self, name: str, replica: Replica) -> None:
        """Until its model endpoint answers (then the router may send it requests), or it exits."""
        assert self.session is not None
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(replica.url + "/v1/models") as r:
                    if r.status == 200:
                        break
            if not is_ours(replica):
                with regs.editing(self.root, self.environment, self.endpoint) as reg:
                    rev = reg.revisions.get(name)
                    if rev is not None:
                        rev.replicas = [r for r in rev.replicas if r.port != replica.port]
                terminate(replica, 0, f"replica {replica.port} of {self.endpoint}/{name}")  # reaps our child
                self.deaths.setdefault(name, deque()).append(time.monotonic())  # one dying at start backs off too
                return
            await asyncio.sleep(0.2)
        with regs.editing(self.root, self.environment, self.endpoint) as reg:
            rev = reg.revisions.get(name)
            for rep in rev.replicas if rev else []:
                if rep.port == replica.port:
                    rep.ready = True

    async def _scale_down(self, name: str, n: int, reason: str, grace: float) -> None:
        chosen: list[Replica] = []
        with regs.editing(self.root, self.environment, self.endpoint) as reg:
            rev = reg.revisions.get(name)
            if rev is None:
                return
            active = [r for r in rev.replicas if not r.draining]
            # decided on an earlier read: never below the floor as it is now (the rollout may have raised it)
            policy = reg.autoscaling
            floor = max(1, rev.min_replicas, policy.min_replicas if policy else 1)
            n = min(n, len(active) - floor)
            if n <= 0:
                return
            # the newest first (the last started), and those not yet ready before those serving
            for r in sorted(active, key=lambda r: (r.ready, -active.index(r)))[:n]:
                r.draining = True
                chosen.append(r)
            self._record(reg, name, len(active), len(active) - len(chosen), reason)
        for replica in chosen:
            self._spawn_task(self._drain_then_stop(name, replica, grace))

    async def _drain_then_stop(self, name: str, replica: Replica, grace: float) -> None:
        """The router sends it nothing new; once its requests are done (or after the grace) it is stopped."""
        assert self.session is not None
        deadline = time.monotonic() + grace
        await asyncio.sleep(TICK_S)  # the router reloads the registry on its next request
        while time.monotonic() < deadline:
            reg = regs.read(self.path)
            if reg is None or reg.router is None:
                break
            try:
                async with self.session.get(reg.router.url + "/admin/state", headers=regs.admin_headers(reg)) as r:
                    state = await r.json()
                inflight = [b["inflight"] for b in state["revisions"].get(name, []) if b["url"] == replica.url]
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
                break  # the router cannot say: stop it after the grace it had
            if not inflight or inflight[0] == 0:
                break
            await asyncio.sleep(0.1)
        with regs.editing(self.root, self.environment, self.endpoint) as reg:
            rev = reg.revisions.get(name)
            if rev is not None:
                rev.replicas = [r for r in rev.replicas if r.port != replica.port]
        terminate(replica, 2.0, f"replica {replica.port} of {self.endpoint}/{name} (scaled down)")

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def serve(path: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"modelplane autoscaler for {path.stem}", flush=True)
    await Autoscaler(path).run(stop)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="modelplane local autoscaler (one per endpoint)")
    ap.add_argument("--registry", type=Path, required=True)
    args = ap.parse_args(argv)
    asyncio.run(serve(args.registry))


if __name__ == "__main__":
    main()
