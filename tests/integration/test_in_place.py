"""In place on the real local stack: raising the quickstart's max_replicas plans "in place" and applies with no
new replica process (the same pids serve; the autoscaler's policy says the new maximum)."""

from __future__ import annotations

import pytest

from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration


def test_raising_max_replicas_applies_in_place(quickstart: Pipeline) -> None:
    quickstart.run("apply", "--auto-approve", check=True, timeout=180)
    before = quickstart.registry("tiny-chat")
    [(revision, rev)] = before["revisions"].items()
    pids = sorted(r["pid"] for r in rev["replicas"])
    quickstart.edit("    max_replicas: 4", "    max_replicas: 6", file="specs/serving.yaml")
    plan = " ".join(quickstart.run("plan", check=True).stdout.split())  # the console wraps long lines
    assert "rollout endpoint/tiny-chat (in place: no new replicas)" in plan, plan
    out = quickstart.run("apply", "--auto-approve", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    after = quickstart.registry("tiny-chat")
    assert list(after["revisions"]) == [revision]  # the same revision serves: no canary was started
    assert sorted(r["pid"] for r in after["revisions"][revision]["replicas"]) == pids  # no new replica process
    assert after["autoscaling"]["max_replicas"] == 6
    assert "No changes" in quickstart.run("plan", check=True).stdout
