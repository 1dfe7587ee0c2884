"""The quickstart applied twice on its local stack (real Temporal, processes, HTTP): between the applies its
raw data gets a new version (so the model retrains) and the model a new version. ``apply`` sends OpenLineage
events that validate against the spec's JSON schemas to an HTTP receiver on loopback, a receiver that never
answers neither fails nor holds up an apply, and ``modelplane show`` tells each node's history."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.integration.pipeline import Pipeline
from tests.runtime.openlineage_schema import Receiver, problems, receiver

pytestmark = pytest.mark.integration

NS = "modelplane://quickstart/dev"


def _quickstart(root: Path, lineage: str) -> Pipeline:
    """A copy of the quickstart with shorter canary pauses and windows, sending lineage as ``lineage`` says."""
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    serving = root / "specs" / "serving.yaml"
    serving.write_text(
        serving.read_text().replace("pause: 10s", "pause: 1s").replace("window: 10s", "window: 2s")
        .replace("min_requests: 20", "min_requests: 5")
    )  # fmt: skip
    project = root / "modelplane.yaml"
    project.write_text(project.read_text() + f"lineage:\n{lineage}")
    p = Pipeline(root)
    # the receivers are on loopback: never through a proxy the environment may name
    p.env = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    return p


@pytest.fixture(scope="module")
def applied_twice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Receiver]]:
    with receiver() as rec:
        p = _quickstart(
            tmp_path_factory.mktemp("lineage") / "quickstart", f"  transport: {{type: http, url: '{rec.url}'}}\n"
        )
        try:
            p.run("apply", "--auto-approve", check=True, timeout=120)
            # new raw data: support-pairs (derived from it) changes, so the training workflow re-runs; and
            # the model's new version is registered, evaluated and rolled out
            p.edit('version: "2026-11-01"', 'version: "2026-12-01"', file="specs/data.yaml")
            p.edit('version: "1.0.0"', 'version: "1.1.0"', file="specs/model.yaml")
            p.run("apply", "--auto-approve", check=True, timeout=120)
            yield p, rec
        finally:
            p.stop()


def _events(rec: Receiver, want: Any, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not want(rec.received()):
        time.sleep(0.1)
    return rec.received()


def _runs(events: list[dict[str, Any]], job: str) -> list[str]:
    return [e["eventType"] for e in events if "run" in e and e["job"]["name"] == job]


def test_apply_sends_openlineage_events_that_validate(applied_twice: tuple[Pipeline, Receiver]) -> None:
    _, rec = applied_twice
    events = _events(rec, lambda ev: _runs(ev, "endpoint/tiny-chat").count("COMPLETE") >= 2)
    assert events, "the receiver got nothing"
    bad = {i: problems(e) for i, e in enumerate(events) if problems(e)}
    assert not bad, bad
    assert {e.get("job", e.get("dataset", {})).get("namespace") for e in events} == {NS}
    datasets = {e["dataset"]["name"]: e["dataset"]["facets"] for e in events if "dataset" in e}
    assert datasets["model/tiny-chat"]["datasetType"]["datasetType"] == "MODEL"
    assert {"dataset/support-tickets", "dataset/support-pairs"} <= set(datasets)
    jobs = {e["job"]["name"]: e["job"]["facets"] for e in events if "run" not in e and "job" in e}
    assert jobs["workflow/finetune-tiny-chat"]["jobType"]["processingType"] == "BATCH"
    assert jobs["endpoint/tiny-chat"]["jobType"]["processingType"] == "SERVICE"
    assert jobs["service/support-bot"]["lineage"]["entries"][0]["inputs"][0]["name"] == "endpoint/tiny-chat"
    # the second apply's new versions are sent again (the model's, the raw data's)
    versions = [e["dataset"]["name"] for e in events if "dataset" in e]
    assert versions.count("model/tiny-chat") == versions.count("dataset/support-tickets") == 2
    # runs: the training run in the second apply only (new data), the evaluation and the rollout in each
    assert _runs(events, "workflow/finetune-tiny-chat") == ["START", "COMPLETE"]
    assert _runs(events, "evaluation/tiny-chat-quality") == ["START", "COMPLETE"] * 2
    assert sorted(_runs(events, "endpoint/tiny-chat")) == ["COMPLETE", "COMPLETE", "START", "START"]
    trained = next(e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"].startswith("workflow/"))
    assert [d["name"] for d in trained["inputs"]] == ["dataset/support-pairs"]
    assert [d["name"] for d in trained["outputs"]] == ["model/tiny-chat"]
    evals = [e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"].startswith("evaluation/")]
    for e in evals:
        tests = {t["name"]: (t["status"], t["actual"]) for t in e["run"]["facets"]["test"]["tests"]}
        assert tests == {"exact_match": ("pass", "0.42"), "toxicity": ("pass", "0.002")}
    rollouts = [e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"] == "endpoint/tiny-chat"]
    verdicts = rollouts[-1]["run"]["facets"]["modelplane_rollout"]["verdicts"]
    assert [v["weight"] for v in verdicts] == [20, 50, 100] and all(v["result"] == "pass" for v in verdicts)
    starts = {e["run"]["runId"] for e in events if e.get("eventType") == "START"}
    ends = {e["run"]["runId"] for e in events if e.get("eventType") == "COMPLETE"}
    assert len(starts) == 5 and starts == ends  # every run that started is the same run that ended


def test_show_tells_both_versions_and_their_runs(applied_twice: tuple[Pipeline, Receiver]) -> None:
    p, _ = applied_twice
    out = p.run("show", "model/tiny-chat", check=True).stdout
    assert "model/tiny-chat in dev (applied; 2 versions)" in out, out
    lines = out.splitlines()
    versions = lines[lines.index("Versions") + 1 : lines.index("Versions") + 3]
    assert "1.0.0" in versions[0] and "created" in versions[0]
    assert "1.1.0" in versions[1] and "spec.version" in versions[1], versions
    artifacts = lines[lines.index("Artifacts") + 1 : lines.index("Runs")]
    # each version, with the runs under it: 1.0.0 registered as it was (no training run yet) and
    # evaluated; 1.1.0 trained on the new data by the workflow's run, then evaluated
    assert artifacts[0].startswith("  1.0.0  hf://modelplane-examples/tiny-chat@v1  registered "), out
    assert "evaluate:evaluation/tiny-chat-quality  succeeded  exact_match=0.42 toxicity=0.002 passed" in artifacts[1]
    # a retrain registers the weights it made: the declared uri with the trained digest
    assert artifacts[2].startswith("  1.1.0  hf://modelplane-examples/tiny-chat@v1 trained sha256:"), out
    assert "produced by" in artifacts[3] and (
        "run-workflow:workflow/finetune-tiny-chat  succeeded  exit 0; inputs dataset/support-pairs@1" in artifacts[3]
    ), out
    assert "evaluate:evaluation/tiny-chat-quality  succeeded  exact_match=0.42" in artifacts[4]
    h = json.loads(p.run("show", "model/tiny-chat", "--format", "json", check=True).stdout)
    assert [v["version"] for v in h["versions"]] == ["1.0.0", "1.1.0"]
    assert [v["changed"] for v in h["versions"]] == [["created"], ["spec.version"]]
    assert all(v["plan_id"] and v["who"] and v["apply_id"] for v in h["versions"])
    first_apply, second_apply = (v["apply_id"] for v in h["versions"])
    assert first_apply != second_apply
    first, second = h["artifacts"]
    assert (first["version"], first["apply_id"]) == ("1.0.0", first_apply)
    assert (second["version"], second["apply_id"]) == ("1.1.0", second_apply)
    assert first["produced_by"] == []  # the quickstart's first artifact was not trained by an apply
    [run] = second["produced_by"]
    assert (run["type"], run["status"], run["apply_id"]) == ("run-workflow", "succeeded", second_apply)
    assert run["output"]["exit_code"] == 0
    assert [(i["id"], i["version"]) for i in run["inputs"]] == [("dataset/support-pairs", "1")]
    for artifact in (first, second):
        [ev] = artifact["evaluations"]
        assert ev["apply_id"] == artifact["apply_id"]
        assert ev["output"]["metrics"] == {"exact_match": 0.42, "toxicity": 0.002}
    assert [(r["type"], r["output"]["version"]) for r in h["runs"]] == [("register", "1.0.0"), ("register", "1.1.0")]
    wf = json.loads(p.run("show", "workflow/finetune-tiny-chat", "-f", "json", check=True).stdout)
    assert [(r["type"], r["apply_id"]) for r in wf["runs"] if r["type"] == "run-workflow"] == [
        ("run-workflow", second_apply)
    ]
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


TIMEOUT_S = 15
"""The lineage transport's request timeout in the test below: a request to a receiver that never answers
holds its sender this long."""


def test_a_receiver_that_never_answers_neither_fails_nor_holds_up_the_apply(tmp_path: Path) -> None:
    # a listening socket that never accepts: connections complete in the kernel's backlog, requests are
    # sent, and no answer ever comes (the worst receiver: a refused connection fails at once)
    with socket.create_server(("127.0.0.1", 0), backlog=64) as hole:
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        p = _quickstart(
            tmp_path / "quickstart", f"  transport: {{type: http, url: '{url}', timeout: {TIMEOUT_S}}}\n  retries: 0\n"
        )
        try:
            t = time.monotonic()
            out = p.run("apply", "--auto-approve", timeout=120)
            took = time.monotonic() - t
            assert out.returncode == 0, out.stdout + out.stderr
            assert "succeeded (11 succeeded)" in out.stdout
            # the apply sends 11 events (7 nodes, 2 runs' START and end): had it waited for them it would have
            # taken over 11 x TIMEOUT_S; the bound says nothing was sent inline, it is not a timing
            assert took < 4 * TIMEOUT_S, took
            log = p.root / ".modelplane" / "logs" / "worker.log"
            deadline = time.monotonic() + TIMEOUT_S + 15
            while time.monotonic() < deadline and "OpenLineage: could not send" not in log.read_text():
                time.sleep(0.2)
            warnings = [line for line in log.read_text().splitlines() if "OpenLineage" in line]
            assert warnings, log.read_text()[-2000:]
            assert "could not send a" in warnings[0] and "after 1 try (" in warnings[0], warnings[0]
            assert "timed out" in warnings[0] and warnings[0].endswith("dropped it"), warnings[0]
        finally:
            p.stop()
