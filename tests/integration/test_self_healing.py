"""The local stack heals itself and no client steers a rollout (issue 30, items 4 and 5), end to end: the real
worker, Temporal dev server, router, autoscaler and simulator replicas.

- a replica killed in steady state is replaced (the autoscaler is every endpoint's supervisor);
- requests any client marks ``x-modelplane-synthetic: 1`` during a canary (4xx on purpose) do not fail it;
- the stable replicas killed mid-rollout: no rollback onto a dead revision, the endpoint serves again, no `down`;
- a rollout's workflow terminated with the canary live: the watchdog puts the declared weights back.

No assertion is a tight timing: the 10 s of a replacement is the issue's bound, measured from the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from modelplane.runtime.local.registry import Replica, RouterProc
from modelplane.runtime.procs import is_ours
from tests.integration.pipeline import Pipeline, make_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Pipeline]:
    p = make_pipeline(tmp_path / "p", serving=True)
    try:
        yield p
    finally:
        p.stop()


def live(rep: dict[str, Any]) -> bool:
    return is_ours(Replica(**rep))


def wait(predicate: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"not within {timeout:g} s: {what}"
        time.sleep(0.1)
    return time.monotonic() - start


def canary_live(p: Pipeline) -> bool:
    revs = p.registry()["revisions"]
    return any(r["role"] == "canary" and r["weight"] > 0 for r in revs.values())


async def send(url: str, n: int, headers: dict[str, str] | None = None, model: str = "chat") -> list[int]:
    body = {"model": model, "prompt": "hello there", "max_tokens": 4}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:

        async def one() -> int:
            try:
                async with s.post(url + "/v1/completions", json=body, headers=headers or {}) as r:
                    await r.read()
                    return r.status
            except (aiohttp.ClientError, TimeoutError):
                return -1

        return list(await asyncio.gather(*(one() for _ in range(n))))


def test_a_killed_replica_is_replaced_within_10_seconds(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True, timeout=300)
    (stable,) = serving.registry()["revisions"].values()
    victim = stable["replicas"][0]
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.monotonic()

    def healed() -> bool:
        reps = serving.registry()["revisions"][next(iter(serving.registry()["revisions"]))]["replicas"]
        ports = {r["port"] for r in reps}
        return len(reps) == 2 and victim["port"] not in ports and all(r["ready"] and live(r) for r in reps)

    wait(healed, 60, "the dead replica replaced")  # a ceiling; the bound is asserted just below
    took = time.monotonic() - killed
    assert took < 10, f"replaced after {took:.1f} s"
    events = serving.registry()["scaling"]
    assert any("exited" in e["reason"] for e in events) and any("replacing 1 dead" in e["reason"] for e in events)
    assert set(asyncio.run(send(serving.router(), 20))) == {200}
    assert "No changes" in serving.run("plan").stdout  # healed by the stack itself, not by another apply


def test_spoofed_synthetic_requests_during_a_canary_do_not_fail_it(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True, timeout=300)
    serving.edit('version: "1.0.0"', 'version: "1.1.0"')
    apply = serving.start("apply", "--auto-approve")
    try:
        wait(lambda: canary_live(serving), 120, "the canary taking traffic")
        url = serving.router()
        statuses: list[int] = []
        while apply.poll() is None and len(statuses) < 400:
            # marked synthetic, without the admin token, asking for a model nobody serves: 404s on purpose
            statuses += asyncio.run(send(url, 40, {"x-modelplane-synthetic": "1"}, model="no-such-model"))
        out, _ = apply.communicate(timeout=180)
    finally:
        if apply.poll() is None:
            apply.kill()
    assert statuses and set(statuses) <= {404}, statuses[:10]
    assert apply.returncode == 0, out
    (stable,) = serving.registry()["revisions"].values()
    assert stable["model"] == "chat@1.1.0" and stable["weight"] == 100


def test_stable_killed_mid_rollout_is_not_a_rollback_target_and_the_endpoint_serves_again(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True, timeout=300)
    (old,) = serving.registry()["revisions"]
    serving.edit('version: "1.0.0"', 'version: "1.1.0"')
    apply = serving.start("apply", "--auto-approve")
    try:
        wait(lambda: canary_live(serving), 120, "the canary taking traffic")
        for rep in serving.registry()["revisions"][old]["replicas"]:
            os.kill(rep["pid"], signal.SIGKILL)
        out, _ = apply.communicate(timeout=240)
    finally:
        if apply.poll() is None:
            apply.kill()
    revisions = serving.registry()["revisions"]
    serving_now = [(n, r) for n, r in revisions.items() if r["weight"] > 0]
    # whichever way the rollout ended, every revision with traffic has live replicas (never 100% onto nothing)
    assert serving_now, revisions
    for name, rev in serving_now:
        assert any(r["ready"] and live(r) for r in rev["replicas"]), (name, rev, out)
    print(f"the rollout ended with exit {apply.returncode}: {out.strip().splitlines()[-1]}")
    if apply.returncode == 0:  # promoted: the canary, judged on its own requests, passed
        (stable,) = revisions.values()
        assert stable["model"] == "chat@1.1.0" and stable["weight"] == 100, out
    else:  # rolled back only onto the old stable once the autoscaler had replaced its replicas
        assert "rolled back" in out and revisions[old]["weight"] == 100, out
    wait(lambda: set(asyncio.run(send(serving.router(), 10))) == {200}, 30, "the endpoint serving again")
    assert (serving.root / ".modelplane" / "local").exists()  # served again with no `down` in between


async def _terminate(root: Path, workflow_type: str = "EndpointRollout") -> list[str]:
    from temporalio.client import Client

    info = json.loads((root / ".modelplane" / "temporal.json").read_text())
    client = await Client.connect(info["address"], namespace=info["namespace"])
    done = []
    async for wf in client.list_workflows("ExecutionStatus='Running'"):
        if wf.workflow_type == workflow_type:
            await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test: terminated mid-canary")
            done.append(wf.id)
    return done


def test_a_terminated_rollouts_canary_goes_back_to_the_declared_weights(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True, timeout=300)
    (old,) = serving.registry()["revisions"]
    serving.edit('version: "1.0.0"', 'version: "1.1.0"')
    serving.edit("{weight: 50, pause: 1s}", "{weight: 50, pause: 3s}", file="specs/serving.yaml")
    apply = serving.start("apply", "--auto-approve")
    try:
        wait(lambda: canary_live(serving), 120, "the canary taking traffic")
        terminated = asyncio.run(_terminate(serving.root))
        assert terminated
        apply.communicate(timeout=120)
    finally:
        if apply.poll() is None:
            apply.kill()
    lease = serving.registry()["canary_lease_until"]
    assert lease is not None  # the canary's weight was held by a lease the rollout no longer renews
    plan = serving.run("plan", "--detailed-exitcode")  # never "No changes" while the canary is not promoted
    assert plan.returncode == 2 and "No changes." not in plan.stdout, plan.stdout + plan.stderr

    def declared() -> bool:
        revs = serving.registry()["revisions"]
        return revs[old]["weight"] == 100 and all(r["weight"] == 0 for n, r in revs.items() if n != old)

    wait(declared, max(0.0, lease - time.time()) + 30, "stable back at 100%, the canary at 0")
    assert any("lease" in e["reason"] for e in serving.registry()["scaling"])
    # the next apply runs the rollout again from its first step and promotes
    again = serving.run("apply", "--auto-approve", timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    (stable,) = serving.registry()["revisions"].values()
    assert stable["model"] == "chat@1.1.0" and stable["weight"] == 100


def test_a_dead_router_is_in_the_next_plan_and_the_apply_brings_the_endpoint_back(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True, timeout=300)
    router = RouterProc(**serving.registry()["router"])
    os.kill(router.pid, signal.SIGKILL)
    wait(lambda: not is_ours(router), 10, "the router gone")
    plan = serving.run("plan", "--detailed-exitcode")
    said = " ".join(plan.stdout.split())
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "provision:endpoint/chat: the local stack drifted: its router is not running" in said, plan.stdout
    serving.run("apply", "--auto-approve", check=True, timeout=300)
    again = RouterProc(**serving.registry()["router"])
    assert is_ours(again) and again.pid != router.pid
    assert set(asyncio.run(send(serving.router(), 20))) == {200}
    assert serving.run("plan", "--detailed-exitcode").returncode == 0


def test_history_marks_a_terminated_apply_as_terminated(pipeline: Pipeline) -> None:
    pipeline.slow(eval=60)
    apply = pipeline.start("apply", "--auto-approve")
    try:
        pipeline.wait_for("eval", "start", timeout=120)
        assert asyncio.run(_terminate(pipeline.root, "ApplyPlan"))
        apply.communicate(timeout=60)
    finally:
        if apply.poll() is None:
            apply.kill()
    rows = json.loads(pipeline.run("history", "--format", "json", check=True).stdout)
    assert rows[0]["outcome"] == "terminated", rows[0]
