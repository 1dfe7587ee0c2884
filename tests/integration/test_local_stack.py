"""The local stack end to end: replica processes, the router, canary rollouts with gates, rollback, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.runtime.procs import pid_alive
from tests.integration.pipeline import Pipeline, make_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Pipeline]:
    p = make_pipeline(tmp_path / "p", serving=True)
    try:
        yield p
    finally:
        p.stop()


def _post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def _replica_pids(p: Pipeline) -> dict[str, list[int]]:
    return {r: [x["pid"] for x in rev["replicas"]] for r, rev in p.registry()["revisions"].items()}


def _load(p: Pipeline, seconds: float, qps: float = 40) -> subprocess.Popen[str]:
    return p.start("load", "chat", "--qps", str(qps), "--duration", str(seconds), "--format", "json")


def _bump(p: Pipeline, version: str, simulator: str = "{ttft_ms: 10, tpot_ms: 1}") -> None:
    p.edit('version: "1.0.0"', f'version: "{version}"')
    p.edit("simulator: {ttft_ms: 10, tpot_ms: 1}", f"simulator: {simulator}", file="specs/serving.yaml")


def test_up_serves_through_the_router_and_status_shows_it(serving: Pipeline) -> None:
    up = serving.run("apply", "--auto-approve")
    assert up.returncode == 0, up.stdout + up.stderr
    status, body, headers = _post(
        serving.router() + "/v1/completions", {"model": "chat", "prompt": "hi", "max_tokens": 4}
    )
    assert status == 200 and body["object"] == "text_completion"
    assert body["choices"][0]["text"]  # type: ignore[index]
    assert headers["x-modelplane-engine"] == "modelplane-vllm-simulator"  # says it is a simulator
    # `model` is required by the router (OpenAI's API; its absence is a 400 there, see test_router_hardening)
    code, chat, _ = _post(
        serving.router() + "/v1/chat/completions", {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert code == 200, chat
    assert chat["choices"][0]["message"]["role"] == "assistant"  # type: ignore[index]
    with urllib.request.urlopen(serving.router() + "/v1/models") as r:
        assert "simulator" in json.loads(r.read())["data"][0]["owned_by"]
    stream = urllib.request.Request(
        serving.router() + "/v1/completions",
        data=json.dumps({"model": "chat", "prompt": "hi", "max_tokens": 3, "stream": True}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(stream, timeout=10) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.read().decode().splitlines() if line.startswith("data: ")]
    assert len(events) == 4 and events[-1] == "data: [DONE]"
    assert json.loads(events[0][6:])["choices"][0]["text"] == " tok0"

    text = serving.run("status", check=True).stdout
    assert "endpoint/chat: router http://127.0.0.1:" in text and "(power_of_two_choices)" in text
    assert "stable   weight 100%  chat@1.0.0  engine simulator" in text
    assert text.count("healthy") == 2  # two replicas, both healthy
    assert serving.run("plan", "--detailed-exitcode").returncode == 0


def test_version_bump_canaries_passes_gates_and_promotes(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True)
    old = _replica_pids(serving)
    _bump(serving, "1.1.0")
    load = _load(serving, 12)
    out = serving.run("apply", "--auto-approve", timeout=180)
    load.wait(timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    now = _replica_pids(serving)
    assert len(now) == 1 and set(now) != set(old)
    (stable,) = serving.registry()["revisions"].values()
    assert stable["role"] == "stable" and stable["weight"] == 100 and stable["model"] == "chat@1.1.0"
    old_pids = [pid for pids in old.values() for pid in pids]
    time.sleep(0.5)
    assert not any(pid_alive(pid) for pid in old_pids)  # old replicas gone
    summary = json.loads(load.stdout.read() if load.stdout else "{}")
    assert summary["errors"] == 0 and len(summary["by_revision"]) == 2  # both revisions served, nothing failed


@pytest.mark.parametrize(
    ("simulator", "reasons"),
    [
        # a canary failing half its requests is caught by the error budget, or, where the balancer ejects its
        # replicas first and the window holds too few of its errors, by the traffic moving to stable: either gate
        # rolls it back at step 1 (which one fires first is a race between ejection and the window)
        ("{ttft_ms: 10, tpot_ms: 1, error_rate: 0.5}", ("over the 0.10% error budget", "moving its traffic to stable")),
        ("{ttft_ms: 30, tpot_ms: 3}", ("canary slower in",)),
    ],
    ids=["errors", "3x-latency"],
)
def test_bad_revision_is_rolled_back_at_its_first_gate(
    serving: Pipeline, simulator: str, reasons: tuple[str, ...]
) -> None:
    serving.run("apply", "--auto-approve", check=True)
    old = _replica_pids(serving)
    _bump(serving, "1.1.0", simulator)
    load = _load(serving, 30)
    out = serving.run("apply", "--auto-approve", timeout=180)
    load.terminate()
    assert out.returncode == 1
    assert "rolled back endpoint/chat to" in out.stdout and "step 1 (weight 50%)" in out.stdout
    reason = next((r for r in reasons if r in out.stdout), None)
    assert reason is not None, out.stdout
    assert _replica_pids(serving) == old  # stable untouched, canary torn down
    assert serving.registry()["revisions"][next(iter(old))]["weight"] == 100
    status, _, _ = _post(
        serving.router() + "/v1/completions", {"model": "chat", "prompt": "still there?", "max_tokens": 2}
    )
    assert status == 200
    assert "pending rollout:endpoint/chat: rolled back" in serving.run("status", check=True).stdout
    history = serving.run("history", check=True).stdout
    assert "✗ rollout:endpoint/chat: rolled back endpoint/chat" in history and reason in history


def test_killed_mid_canary_resumes_the_same_step_without_duplicate_replicas(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True)
    _bump(serving, "1.1.0")
    serving.edit("{weight: 50, pause: 1s}", "{weight: 50, pause: 6s}", file="specs/serving.yaml")
    load = _load(serving, 40)
    apply = serving.start("apply", "--auto-approve")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for the canary to take traffic
        revs = serving.registry()["revisions"]
        if (
            len(revs) == 2
            and all(len(r["replicas"]) == 2 for r in revs.values())
            and min(r["weight"] for r in revs.values()) == 50
        ):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"no canary at 50%: {serving.registry()}")
    before = _replica_pids(serving)
    os.kill(serving.worker_pid(), signal.SIGKILL)
    apply.kill()
    apply.wait()
    out = serving.run("apply", "--auto-approve", timeout=180)
    load.terminate()
    assert out.returncode == 0, out.stdout + out.stderr
    canary = next(r for r, rev in before.items() if serving.registry()["revisions"].get(r, {}).get("role") == "stable")
    assert _replica_pids(serving) == {canary: before[canary]}  # the same canary replicas, adopted, promoted
    assert len(before) == 2 and all(len(p) == 2 for p in before.values())


def test_manual_pause_waits_for_approve_and_abort_rolls_back(serving: Pipeline) -> None:
    first = serving.run("apply", "--auto-approve", check=True).stdout
    # a first deploy has no canary steps: it says so, and its last line is the promotion at 100%
    rollout_lines = [line for line in first.splitlines() if line.startswith("  ~ endpoint/chat")]
    assert rollout_lines[-1].startswith(
        "  ~ endpoint/chat first deploy (no stable revision to canary against): 100% promoted"
    ), first
    assert "weight 0%" not in first
    _bump(serving, "1.1.0")
    serving.edit("{weight: 50, pause: 1s}", "{weight: 50, pause: manual}", file="specs/serving.yaml")
    load = _load(serving, 60)
    apply = serving.start("apply", "--auto-approve")
    deadline = time.monotonic() + 60
    while "waits for approval" not in (st := serving.run("status").stdout) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert "endpoint/chat waits for approval: modelplane approve endpoint/chat" in st
    # and says the apply is paused there, with the command that lets it go on (issue 33)
    assert "is paused at the manual gate of endpoint/chat step " in st, st
    assert "run `modelplane approve endpoint/chat --env dev` to go on" in st, st
    time.sleep(2)
    assert apply.poll() is None  # still waiting
    approved = serving.run("approve", "chat", check=True)
    assert "approved: endpoint/chat" in approved.stdout
    out, _ = apply.communicate(timeout=120)
    load.terminate()
    assert apply.returncode == 0, out
    # --auto-approve confirmed the plan; the gate was said once, with the exact command that continues
    assert out.count("endpoint/chat waits at step 1 at 50%: manual pause.") == 1, out
    assert f"`modelplane approve chat --env dev -C {serving.root.resolve()}`" in out, out

    _bump_again = serving.root / "specs" / "pipeline.yaml"
    _bump_again.write_text(_bump_again.read_text().replace('version: "1.1.0"', 'version: "1.2.0"'))
    before = _replica_pids(serving)
    apply = serving.start("apply", "--auto-approve")
    while "waits for approval" not in serving.run("status").stdout and time.monotonic() < deadline + 60:
        time.sleep(0.3)
    serving.run("abort", "--reason", "not today", check=True)
    out, _ = apply.communicate(timeout=120)
    assert apply.returncode == 1
    assert "aborted: not today" in out
    assert _replica_pids(serving) == before  # the canary is gone, stable as it was


def test_quickstart_applies_end_to_end_then_plans_no_changes(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import EXAMPLES

    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    p = Pipeline(root)
    try:
        up = p.run("apply", "--auto-approve", timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "on dev: succeeded (11 succeeded)" in up.stdout
        assert p.run("plan", "--detailed-exitcode").returncode == 0
        history = p.run("history", check=True).stdout.splitlines()
        assert len(history) == 1 and "succeeded" in history[0]
        load = p.run("load", "tiny-chat", "--qps", "20", "--duration", "1", check=True).stdout
        sent = int(load.split(" requests in ")[0])  # Poisson arrivals: about 20 in a second, not exactly
        assert sent > 0 and f"{sent} ok, 0 errors" in load, load
    finally:
        p.stop()
