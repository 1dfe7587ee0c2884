"""What a follower of an apply is told about rollouts (issue 33 papercuts): a first deploy says it is one
and ends at 100% promoted; a gate says what it waits for and the exact command that continues, once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from modelplane.cli.gates import gate_notices
from modelplane.cli.views.progress import rollout_line
from modelplane.runtime.temporal.messages import Gate, Progress, RolloutStatus
from tests.conftest import EXAMPLES

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_a_first_deploy_is_not_a_canary_at_0_percent() -> None:
    starting = RolloutStatus(target="endpoint/chat", step=0, steps=3, weight=100, phase="starting", since=NOW,
                             replicas=2, first=True)  # fmt: skip
    assert rollout_line(starting) == ("first deploy (no stable revision to canary against): 100% starting, 2 replicas")
    done = starting.model_copy(update={"phase": "promoted"})
    assert rollout_line(done).endswith("100% promoted, 2 replicas")
    # a canary keeps its steps
    canary = starting.model_copy(update={"first": False, "weight": 10, "phase": "pause"})
    assert rollout_line(canary) == "step 1/3 weight 10% pause, 2 canary replicas"


def _progress(gates: list[Gate]) -> Progress:
    ro = RolloutStatus(target="endpoint/chat", step=1, steps=3, weight=50, phase="waiting", since=NOW, replicas=1)
    return Progress(apply_id="3.abc", plan_id="p", environment="dev", state="running", started_at=NOW,
                    actions={}, order=[], gates=gates, rollouts={"endpoint/chat": ro})  # fmt: skip


def test_a_gate_is_said_once_with_the_command_that_continues(monkeypatch: pytest.MonkeyPatch) -> None:
    root = EXAMPLES / "quickstart"
    settings = SimpleNamespace(root=root, environment="dev")
    gate = Gate(target="endpoint/chat", step=1, since=NOW, reason="manual pause")
    said: set[tuple[str, int]] = set()
    monkeypatch.chdir(root)
    (line,) = gate_notices(_progress([gate]), settings, said)
    assert line == (
        "endpoint/chat waits at step 2 at 50%: manual pause. It goes on when someone runs "
        "`modelplane approve chat --env dev`; `modelplane abort --env dev` rolls it back instead"
    )
    assert gate_notices(_progress([gate]), settings, said) == []  # once
    # the next gate of the same rollout is news
    assert len(gate_notices(_progress([gate.model_copy(update={"step": 2})]), settings, said)) == 1


def test_from_another_directory_the_command_names_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = SimpleNamespace(root=EXAMPLES / "quickstart", environment="dev")
    gate = Gate(target="endpoint/chat", step=1, since=NOW, reason="manual pause")
    (line,) = gate_notices(_progress([gate]), settings, set())
    assert f"`modelplane approve chat --env dev -C {(EXAMPLES / 'quickstart').resolve()}`" in line
