"""Canary rollouts decide right with or without traffic, on the real local stack (router, simulator replicas).

- the quickstart's natural next step, a version bump applied with no traffic at
  all, promotes through every step on synthetic traffic;
- the same bump with a faulty revision (errors, then 3x latency) is rolled back
  at its first step, on synthetic traffic too;
- ``when_idle: hold`` waits for ``approve`` and says why;
- a canary whose real traffic the balancer moves to stable (its replicas at
  their concurrency cap) is caught by the share gate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.pipeline import Pipeline, make_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Pipeline]:
    p = make_pipeline(tmp_path / "p", serving=True)
    try:
        yield p
    finally:
        p.stop()


def _registry(p: Pipeline, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((p.root / ".modelplane" / "local" / "dev" / f"{name}.json").read_text())
    return data


def _bump_quickstart(p: Pipeline, version: str, simulator: str | None = None) -> None:
    model = p.root / "specs" / "model.yaml"
    text = model.read_text()
    old = next(line for line in text.splitlines() if line.strip().startswith("version:"))
    model.write_text(text.replace(old, f'{old.split("version:")[0]}version: "{version}"', 1))
    serving = p.root / "specs" / "serving.yaml"
    text = serving.read_text()
    text = text.replace("    simulator: {error_rate: 0.3}\n", "").replace(
        "    simulator: {latency_multiplier: 3}\n", ""
    )
    if simulator is not None:
        text = text.replace("  engine:\n    args:", f"  engine:\n    simulator: {simulator}\n    args:", 1)
    serving.write_text(text)


def test_quickstart_bump_with_no_traffic_promotes_on_synthetic_traffic(quickstart: Pipeline) -> None:
    quickstart.run("apply", "--auto-approve", check=True, timeout=180)
    (first,) = _registry(quickstart, "tiny-chat")["revisions"].values()  # type: ignore[attr-defined]
    _bump_quickstart(quickstart, "1.1.0")
    plan = quickstart.run("plan", check=True).stdout
    assert "cannot decide" not in plan  # the quickstart's windows are feasible
    out = quickstart.run("apply", "--auto-approve", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    (stable,) = _registry(quickstart, "tiny-chat")["revisions"].values()  # type: ignore[attr-defined]
    assert stable["role"] == "stable" and stable["weight"] == 100 and stable["model"].endswith("@1.1.0")
    # every analysed step passed, on requests the rollout generated itself (nothing else sent any)
    text = " ".join(out.stdout.split())  # the console wraps long lines
    passed = {w for w in ("20", "50", "100") if f"at {w}% pass (analysis)" in text}
    assert passed == {"20", "50", "100"}, out.stdout
    verdicts = [v for v in text.split("last: step ")[1:] if "pass (analysis)" in v.split("]")[0]]
    assert verdicts and all(" 0 real, " in v.split("]")[0] for v in verdicts), verdicts
    assert first["model"].endswith("@1.0.0")


def test_faulty_bump_with_no_traffic_is_rolled_back_at_the_first_step(quickstart: Pipeline) -> None:
    quickstart.run("apply", "--auto-approve", check=True, timeout=180)
    (stable,) = _registry(quickstart, "tiny-chat")["revisions"]  # type: ignore[misc]
    for version, simulator, gate in [
        ("1.1.0", "{error_rate: 0.3}", "errors in"),
        ("1.2.0", "{latency_multiplier: 3}", "rank test (one-sided Mann-Whitney U)"),
    ]:
        _bump_quickstart(quickstart, version, simulator)
        out = quickstart.run("apply", "--auto-approve", timeout=300)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "rolled back endpoint/tiny-chat to" in out.stdout and "step 1 (weight 20%)" in out.stdout
        assert gate in out.stdout and "synthetic" in out.stdout, out.stdout
        revisions = _registry(quickstart, "tiny-chat")["revisions"]
        assert list(revisions) == [stable] and revisions[stable]["weight"] == 100  # type: ignore[index]


def test_hold_waits_for_approve_and_says_why(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True)
    serving.edit('version: "1.0.0"', 'version: "1.1.0"')
    serving.edit("inconclusive_limit: 3}", "inconclusive_limit: 0, when_idle: hold}", file="specs/serving.yaml")
    apply = serving.start("apply", "--auto-approve")
    deadline = time.monotonic() + 90
    while "waits for approval" not in (st := serving.run("status").stdout) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert "endpoint/chat waits for approval: modelplane approve endpoint/chat" in st, st
    assert "0 canary requests in the window, need 5 (analysis.when_idle: hold)" in st
    time.sleep(1.5)
    assert apply.poll() is None  # still holding: no traffic was generated, nothing rolled back
    assert {r["weight"] for r in serving.registry()["revisions"].values()} == {50}
    # every step without traffic holds: 50% and then 100%
    approved = 0
    while apply.poll() is None and time.monotonic() < deadline + 90:
        if "waits for approval" in serving.run("status").stdout:
            serving.run("approve", "chat", check=True)
            approved += 1
        time.sleep(0.3)
    out, _ = apply.communicate(timeout=60)
    assert apply.returncode == 0, out
    assert approved == 2 and "approved without data" in " ".join(out.split())
    (stable,) = serving.registry()["revisions"].values()
    assert stable["model"] == "chat@1.1.0"


def test_a_canary_starved_by_the_balancer_is_caught_by_the_share_gate(serving: Pipeline) -> None:
    serving.run("apply", "--auto-approve", check=True)
    (stable,) = serving.registry()["revisions"]
    serving.edit('version: "1.0.0"', 'version: "1.1.0"')
    # the new revision takes one request per replica at a time: under load its share spills over to stable
    serving.edit(
        "  autoscaling: {min_replicas: 2",
        "  capacity: {max_concurrency_per_replica: 1}\n  autoscaling: {min_replicas: 2",
        file="specs/serving.yaml",
    )
    serving.edit("inconclusive_limit: 3}", "inconclusive_limit: 0, when_idle: fail}", file="specs/serving.yaml")
    load = serving.start("load", "chat", "--qps", "80", "--duration", "40", "--format", "json")
    try:
        out = serving.run("apply", "--auto-approve", timeout=180)
    finally:
        load.terminate()
    assert out.returncode == 1, out.stdout + out.stderr
    text = " ".join(out.stdout.split())  # the console wraps long lines
    assert "step 1 (weight 50%): the canary served" in text, out.stdout
    assert "real requests at weight 50%" in text and "the balancer is moving its traffic to stable" in text
    revisions = serving.registry()["revisions"]
    assert list(revisions) == [stable] and revisions[stable]["weight"] == 100
