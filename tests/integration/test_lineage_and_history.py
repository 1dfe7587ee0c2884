"""The quickstart applied twice on its local stack (real Temporal, processes, HTTP), the model's version
bumped in between: ``apply`` sends OpenLineage events that validate against the spec's JSON schemas to an
HTTP receiver on loopback, and ``modelplane show`` tells each node's history from the state store."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.integration.pipeline import Pipeline
from tests.runtime.openlineage_schema import Receiver, problems, receiver

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skip(reason="needs the loopback receiver that hangs in tests/runtime/test_openlineage.py: unfinished"),
]


@pytest.fixture(scope="module")
def applied_twice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Receiver, str]]:
    root = tmp_path_factory.mktemp("lineage") / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    serving = root / "specs" / "serving.yaml"  # the same canary, with shorter pauses and windows
    serving.write_text(
        serving.read_text().replace("pause: 10s", "pause: 1s").replace("window: 10s", "window: 2s")
        .replace("min_requests: 20", "min_requests: 5")
    )  # fmt: skip
    p = Pipeline(root)
    with receiver() as rec:
        project = root / "modelplane.yaml"
        project.write_text(project.read_text() + f"lineage:\n  transport: {{type: http, url: '{rec.url}'}}\n")
        try:
            first = p.run("apply", "--auto-approve", check=True, timeout=180)
            model = root / "specs" / "model.yaml"
            model.write_text(model.read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))
            second = p.run("apply", "--auto-approve", check=True, timeout=240)
            yield p, rec, first.stdout + second.stdout
        finally:
            p.stop()


def _events(rec: Receiver, want: Any, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not want(rec.received()):
        time.sleep(0.1)
    return rec.received()


def _runs(events: list[dict[str, Any]], job: str) -> list[str]:
    return [e["eventType"] for e in events if "run" in e and e["job"]["name"] == job]


def test_apply_sends_openlineage_events_that_validate(applied_twice: tuple[Pipeline, Receiver, str]) -> None:
    _, rec, _ = applied_twice
    events = _events(rec, lambda ev: _runs(ev, "endpoint/tiny-chat").count("COMPLETE") >= 2)
    assert events, "the receiver got nothing"
    bad = {i: problems(e) for i, e in enumerate(events) if problems(e)}
    assert not bad, bad
    ns = "modelplane://quickstart/dev"
    assert {e.get("job", e.get("dataset", {})).get("namespace") for e in events} == {ns}
    datasets = {e["dataset"]["name"]: e["dataset"]["facets"] for e in events if "dataset" in e}
    assert datasets["model/tiny-chat"]["datasetType"]["datasetType"] == "MODEL"
    assert {"dataset/support-tickets", "dataset/support-pairs"} <= set(datasets)
    jobs = {e["job"]["name"]: e["job"]["facets"] for e in events if "run" not in e and "job" in e}
    assert jobs["workflow/finetune-tiny-chat"]["jobType"]["processingType"] == "BATCH"
    assert jobs["endpoint/tiny-chat"]["jobType"]["processingType"] == "SERVICE"
    assert jobs["service/support-bot"]["lineage"]["entries"][0]["inputs"][0]["name"] == "endpoint/tiny-chat"
    # runs: the training run once, the evaluation and the rollout in each apply, each START then its end
    assert _runs(events, "workflow/finetune-tiny-chat") == ["START", "COMPLETE"]
    assert _runs(events, "evaluation/tiny-chat-quality") == ["START", "COMPLETE"] * 2
    assert sorted(_runs(events, "endpoint/tiny-chat")) == ["COMPLETE", "COMPLETE", "START", "START"]
    evals = [e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"].startswith("evaluation/")]
    tests = {t["name"]: t["status"] for t in evals[-1]["run"]["facets"]["test"]["tests"]}
    assert tests == {"exact_match": "pass", "toxicity": "pass"}
    rollouts = [e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"] == "endpoint/tiny-chat"]
    verdicts = rollouts[-1]["run"]["facets"]["modelplane_rollout"]["verdicts"]
    assert verdicts and all(v["result"] == "pass" for v in verdicts)
    starts = {e["run"]["runId"] for e in events if e.get("eventType") == "START"}
    ends = {e["run"]["runId"] for e in events if e.get("eventType") == "COMPLETE"}
    assert starts == ends  # every run that started is the same run that ended


def test_show_tells_both_versions_and_their_runs(applied_twice: tuple[Pipeline, Receiver, str]) -> None:
    p, _, _ = applied_twice
    out = p.run("show", "model/tiny-chat", check=True).stdout
    assert "model/tiny-chat in dev (applied; 2 version(s))" in out, out
    lines = out.splitlines()
    versions = lines[lines.index("Versions") + 1 : lines.index("Versions") + 3]
    assert "1.0.0" in versions[0] and "created" in versions[0]
    assert "1.1.0" in versions[1] and "spec.version" in versions[1], versions
    assert (
        out.count(
            "produced by run-workflow:workflow/finetune-tiny-chat  succeeded  exit 0; inputs dataset/support-pairs@"
        )
        == 2
    )
    assert out.count("evaluated   evaluate:evaluation/tiny-chat-quality  succeeded  exact_match=") == 2
    h = json.loads(p.run("show", "model/tiny-chat", "--format", "json", check=True).stdout)
    assert [v["version"] for v in h["versions"]] == ["1.0.0", "1.1.0"]
    assert [a["version"] for a in h["artifacts"]] == ["1.0.0", "1.1.0"]
    assert all(v["plan_id"] and v["who"] and v["apply_id"] for v in h["versions"])
    assert h["versions"][0]["apply_id"] != h["versions"][1]["apply_id"]
    first, second = h["artifacts"]
    # the bump did not retrain: the second version's producing run is the first apply's
    assert first["produced_by"][0]["apply_id"] == second["produced_by"][0]["apply_id"] == h["versions"][0]["apply_id"]
    assert first["produced_by"][0]["inputs"][0]["id"] == "dataset/support-pairs"
    assert [r["type"] for r in h["runs"]] == ["register", "register"]
    ep = json.loads(p.run("show", "endpoint/tiny-chat", "-f", "json", check=True).stdout)
    assert [r["first"] for r in ep["rollouts"]] == [True, False]
    assert [r["model_version"] for r in ep["rollouts"]] == ["1.0.0", "1.1.0"]
    assert ep["rollouts"][1]["verdicts"] and ep["weights"] == {ep["rollouts"][1]["revision"]: 100}
    assert len(ep["revisions"]) == 2
    text = p.run("show", "endpoint/tiny-chat", check=True).stdout
    assert "current weights: " + ep["rollouts"][1]["revision"] + " 100%" in text
    ev = json.loads(p.run("show", "evaluation/tiny-chat-quality", "-f", "json", check=True).stdout)
    assert len(ev["metrics"]) == 2 and all("exact_match" in r["output"]["metrics"] for r in ev["metrics"])
    missing = p.run("show", "model/tiny-chta")
    assert missing.returncode == 1 and "never applied" in missing.stderr + missing.stdout
    assert "did you mean `model/tiny-chat`?" in missing.stderr + missing.stdout
