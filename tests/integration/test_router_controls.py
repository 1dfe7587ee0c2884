"""No client steers a rollout, and the local stack heals itself: real router, autoscaler and simulator processes.

- ``x-modelplane-synthetic`` from a client without the admin token is stripped (the request is real traffic);
  a synthetic 4xx, even with the token, is no evidence either way: never an error of the revision;
- latency quantiles are of successful requests only (a dead revision's instant 502s are no baseline);
- the router drops the stats of revisions the registry no longer lists;
- the autoscaler (every endpoint's supervisor) replaces a killed replica within 10 s;
- its watchdog puts the declared weights back once a canary's lease expires.

Bounded loads on 127.0.0.1; each wait has a generous ceiling except the issue's 10 s replacement bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from modelplane.runtime.local import registry as regs
from modelplane.runtime.local.registry import Autoscaling, Registry, Revision, RouterProc, write
from modelplane.runtime.procs import free_port, is_ours, port_open
from tests.integration.test_router_hardening import GOOD, MODEL, Stack, _admin, _canary

pytestmark = pytest.mark.integration

SPOOF = {"x-modelplane-synthetic": "1"}
WRONG_MODEL = {"model": "no-such-model", "prompt": "hi", "max_tokens": 4}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.stop()


async def _post(url: str, n: int, body: dict[str, Any], headers: dict[str, str]) -> list[int]:
    async with aiohttp.ClientSession() as s:
        out = []
        for _ in range(n):
            async with s.post(url + "/v1/completions", json=body, headers=headers) as r:
                await r.read()
                out.append(r.status)
        return out


async def test_spoofed_synthetic_4xx_never_count_against_the_canary(stack: Stack) -> None:
    url = _canary(stack)
    # 42 requests marked synthetic by a client without the token, for a model nobody serves (the probe's attack)
    statuses = await _post(url, 42, WRONG_MODEL, SPOOF)
    assert set(statuses) == {404}
    stats = await _admin(url, stack, "/admin/stats?window=600")
    for rev in ("r1", "r2"):
        assert stats[rev]["errors"] == 0 and stats[rev]["synthetic"] == 0, stats  # real traffic, a client's 4xx
    assert stats["r1"]["real"] + stats["r2"]["real"] == 42
    # the same from the rollout itself (with the token): left out of the sample, so no evidence either way
    statuses = await _post(url, 20, WRONG_MODEL, {**SPOOF, **stack.auth})
    assert set(statuses) == {404}
    stats = await _admin(url, stack, "/admin/stats?window=600")
    assert stats["r1"]["synthetic_refused"] + stats["r2"]["synthetic_refused"] == 20, stats
    assert stats["r1"]["errors"] == stats["r2"]["errors"] == 0
    assert stats["r1"]["requests"] + stats["r2"]["requests"] == 42  # not counted as requests of the sample
    # a pin without the token is refused, as before; with it the request goes where it says
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/completions", json=GOOD, headers={"x-modelplane-pin-revision": "r2"}) as r:
            assert r.status == 401
        pinned = {"x-modelplane-pin-revision": "r2", **SPOOF, **stack.auth}
        async with s.post(url + "/v1/completions", json=GOOD, headers=pinned) as r:
            assert r.status == 200 and r.headers["x-modelplane-revision"] == "r2"


async def test_latency_is_judged_on_successful_requests_only(stack: Stack) -> None:
    url = _canary(stack, canary_faults={"error_rate": 1.0})
    await _post(url, 40, GOOD, {})
    stats = await _admin(url, stack, "/admin/stats?window=600")
    assert stats["r2"]["errors"] == stats["r2"]["requests"] > 0  # every canary answer a 5xx
    assert stats["r2"]["succeeded"] == 0 and stats["r2"]["p50_ms"] is None and stats["r2"]["p99_ms"] is None
    assert stats["r1"]["succeeded"] == stats["r1"]["requests"] and stats["r1"]["p50_ms"] is not None


async def test_stats_of_removed_revisions_are_dropped(stack: Stack) -> None:
    url = _canary(stack)
    await _post(url, 20, GOOD, {})
    assert set(await _admin(url, stack, "/admin/stats?window=600")) == {"r1", "r2"}
    path = next(stack.tmp.glob("router-*.json"))
    reg = regs.read(path)
    assert reg is not None
    del reg.revisions["r2"]  # as a rollout's teardown does
    reg.revisions["r1"].weight = 100
    write(path, reg)
    await _post(url, 2, GOOD, {})  # the router re-reads the registry on a request
    assert set(await _admin(url, stack, "/admin/stats?window=600")) == {"r1"}


def _supervised(stack: Stack, replicas: int, **extra: Any) -> tuple[Path, str]:
    """An endpoint as the provisioner leaves it: registry, router, and its autoscaler process."""
    root = stack.tmp / "project"
    path = regs.registry_path(root, "dev", "chat")
    path.parent.mkdir(parents=True)
    command = [sys.executable, "-m", "modelplane.runtime.local.simulator", "--port", "{port}",
               "--served-model-name", MODEL, "--revision", "r1", "--ttft-ms", "2", "--tpot-ms", "1"]  # fmt: skip
    port = free_port()
    revisions = {"r1": Revision(role="stable", weight=100, model=MODEL, command=command,
                                replicas=[stack.replica("r1") for _ in range(replicas)])}  # fmt: skip
    revisions.update(extra.pop("revisions", {}))
    policy = Autoscaling(min_replicas=replicas, max_replicas=replicas, metric="concurrency", target=8,
                         up_stabilization_s=0, up_percent=100, up_period_s=15, down_stabilization_s=300,
                         down_percent=100, down_period_s=15)  # fmt: skip
    reg = Registry(endpoint="chat", environment="dev", revisions=revisions, autoscaling=policy,
                   router=RouterProc(pid=0, port=port, token=stack.token), **extra)  # fmt: skip
    write(path, reg)
    stack._start(["modelplane.runtime.local.router", "--registry", str(path), "--port", str(port)], port)
    scaler = subprocess.Popen(
        [sys.executable, "-m", "modelplane.runtime.local.autoscaler", "--registry", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.procs.insert(0, scaler)  # stopped first: it starts replicas
    return path, f"http://127.0.0.1:{port}"


def _wait(predicate: Any, ceiling: float, what: str) -> None:
    deadline = time.monotonic() + ceiling
    while not predicate():
        assert time.monotonic() < deadline, f"not within {ceiling:g} s: {what}"
        time.sleep(0.1)


def test_a_killed_replica_is_replaced_within_10_seconds(stack: Stack) -> None:
    path, url = _supervised(stack, replicas=2)
    time.sleep(1.0)  # the autoscaler's first ticks
    reg = regs.read(path)
    assert reg is not None
    victim = reg.revisions["r1"].replicas[0]
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()

    def healed() -> bool:
        now = regs.read(path)
        reps = now.revisions["r1"].replicas if now else []
        return (
            len(reps) == 2
            and victim.port not in {r.port for r in reps}
            and all(r.ready and is_ours(r) and port_open(f"127.0.0.1:{r.port}") for r in reps)
        )

    _wait(healed, 60, "the killed replica replaced")  # a ceiling; the bound is asserted below
    took = time.monotonic() - killed
    assert took < 10, f"replaced after {took:.1f} s"
    reg = regs.read(path)
    assert reg is not None
    reasons = [e.reason for e in reg.scaling]
    assert any("exited" in r for r in reasons) and any("replacing 1 dead replica" in r for r in reasons), reasons
    assert set(asyncio.run(_post(url, 10, GOOD, {}))) == {200}
    for r in reg.revisions["r1"].replicas:  # replicas the autoscaler started are this test's to stop
        if r.pid not in {p.pid for p in stack.procs}:
            os.kill(r.pid, signal.SIGTERM)


def test_the_watchdog_reverts_a_canary_whose_lease_expired(stack: Stack) -> None:
    canary = Revision(role="canary", weight=50, model=MODEL, replicas=[stack.replica("r2")])
    path, url = _supervised(stack, replicas=1, revisions={"r2": canary}, canary_lease_until=time.time() + 1.0)
    reg = regs.read(path)
    assert reg is not None
    reg.revisions["r1"].weight = 50
    write(path, reg)

    def reverted() -> bool:
        now = regs.read(path)
        return now is not None and now.revisions["r1"].weight == 100 and now.revisions["r2"].weight == 0

    _wait(reverted, 30, "stable back at 100% once the lease expired")
    reg = regs.read(path)
    assert reg is not None and reg.canary_lease_until is None
    assert any("lease" in e.reason for e in reg.scaling)
    asyncio.run(_post(url, 2, GOOD, {}))  # the router re-reads the registry
    state = asyncio.run(_admin(url, stack, "/admin/state"))
    assert state["weights"] == {"r1": 100, "r2": 0}
