"""Each node's history from the state store (schema 5: node_versions and runs), on SQLite and PostgreSQL:
versions over time with who and when, a model's artifacts with the run that produced them and its inputs'
versions then, an evaluation's metrics per run, an endpoint's rollouts, verdicts and weights; and a state
written before schema 5 is seeded with its current snapshot."""

from __future__ import annotations

import json
import sqlite3
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from modelplane.errors import ModelplaneError
from modelplane.runtime.state.node_history import histories, node_history
from modelplane.runtime.state.ports import EffectWrites
from modelplane.runtime.state.sqlite import MIGRATIONS, StateStore


def doc(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "owner": "team"}, "spec": spec}


PAIRS = doc("Dataset", "pairs", version="1")
WF = doc("Workflow", "train", inputs=["dataset/pairs"], outputs=["model/chat"])
EVAL = doc("Evaluation", "quality", model="chat", dataset="pairs")
EP = doc("Endpoint", "chat", model="chat")


def model(version: str) -> dict[str, Any]:
    return doc("Model", "chat", version=version, artifact=f"hf://x/chat@{version}", trained_on={"workflow": "train"})


def _apply(store: Any, apply_id: str, rows: list[tuple[str, dict[str, Any]]], runs: list[Any], reg: str | None) -> None:
    store.history_begin(apply_id, "dev", f"plan-{apply_id}", "apply/p/dev", "alice@laptop")
    if reg is not None:
        key = f"k/{apply_id}/register"
        store.ledger_begin(key, "dev", apply_id, "register:model/chat")
        store.ledger_done(key, {}, environment="dev", apply_id=apply_id,
                          writes=EffectWrites(catalog=("model/chat", reg, model(reg))))  # fmt: skip
    store.record("dev", apply_id, upserts=[(i, d["kind"], "specs/x.yaml", 0, d) for i, d in rows], runs=runs)
    store.history_end(apply_id, "succeeded", {"succeeded": 1})


def test_history_of_a_model_an_evaluation_and_an_endpoint(store: Any) -> None:
    metrics = {"metrics": {"acc": 0.9}, "failed": [], "blocking": True}
    _apply(
        store,
        "1.a",
        [("dataset/pairs", PAIRS), ("workflow/train", WF), ("model/chat", model("1.0.0")), ("evaluation/quality", EVAL),
         ("endpoint/chat", EP)],
        [("run-workflow:workflow/train", "run-workflow", "workflow/train", "succeeded", {"exit_code": 0}),
         ("register:model/chat", "register", "model/chat", "succeeded", {"version": "1.0.0"}),
         ("evaluate:evaluation/quality", "evaluate", "evaluation/quality", "succeeded", metrics),
         ("rollout:endpoint/chat", "rollout", "endpoint/chat", "succeeded", {"revision": "r1", "first": True})],
        "1.0.0",
    )  # fmt: skip
    verdicts = [{"step": 0, "weight": 20, "gate": "errors", "result": "fail", "reason": "3 errors in 40"}]
    _apply(
        store,
        "2.a",
        [("model/chat", model("1.1.0")), ("dataset/pairs", {**PAIRS, "spec": {"version": "2"}})],
        [("register:model/chat", "register", "model/chat", "succeeded", {"version": "1.1.0"}),
         ("evaluate:evaluation/quality", "evaluate", "evaluation/quality", "succeeded", {**metrics, "metrics": {"acc": 0.8}}),
         ("rollout:endpoint/chat", "rollout", "endpoint/chat", "failed",
          {"rolled_back": True, "revision": "r2", "stable": "r1", "reason": "step 1: errors", "analysis": verdicts})],
        "1.1.0",
    )  # fmt: skip
    h = node_history(store, "dev", "model/chat")
    json.dumps(h)  # JSON-able as it is
    assert [(v["version"], v["changed"], v["who"], v["plan_id"]) for v in h["versions"]] == [
        ("1.0.0", ["created"], "alice@laptop", "plan-1.a"),
        ("1.1.0", ["spec.artifact", "spec.version"], "alice@laptop", "plan-2.a"),
    ]
    first, second = h["artifacts"]
    assert (first["version"], first["artifact"]) == ("1.0.0", "hf://x/chat@1.0.0")
    # the bump did not retrain: both versions were produced by the first apply's run, on pairs v1
    assert [r["apply_id"] for r in first["produced_by"]] == [r["apply_id"] for r in second["produced_by"]] == ["1.a"]
    assert first["produced_by"][0]["inputs"] == [
        {"id": "dataset/pairs", "version": "1", "digest": first["produced_by"][0]["inputs"][0]["digest"]}
    ]
    assert [e["output"]["metrics"]["acc"] for e in second["evaluations"]] == [0.8]
    ev = node_history(store, "dev", "evaluation/quality")
    assert [r["output"]["metrics"]["acc"] for r in ev["metrics"]] == [0.9, 0.8]
    ep = node_history(store, "dev", "endpoint/chat")
    assert [(r["revision"], r["model_version"], r["first"], r["rolled_back"]) for r in ep["rollouts"]] == [
        ("r1", "1.0.0", True, False),
        ("r2", "1.1.0", False, True),
    ]
    assert ep["rollouts"][1]["verdicts"] == verdicts and ep["rollouts"][1]["reason"] == "step 1: errors"
    assert ep["weights"] == {"r1": 100} and ep["revisions"] == ["r1", "r2"]
    assert set(histories(store, "dev")) == {"dataset/pairs", "workflow/train", "model/chat", "evaluation/quality",
                                            "endpoint/chat"}  # fmt: skip
    with pytest.raises(ModelplaneError, match="never applied") as info:
        node_history(store, "dev", "model/chta")
    assert info.value.diagnostics[0].hint == "did you mean `model/chat`?"


def test_a_schema_4_file_is_seeded_with_its_snapshot(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    for script in MIGRATIONS[:4]:
        for statement in script.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute(
        "INSERT INTO nodes VALUES ('dev', 'model/chat', 'Model', 'specs/m.yaml', 0, ?, 3, '3.a', 5.0)",
        (json.dumps(model("1.0.0")),),
    )
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    store = StateStore(tmp_path / "s.db")
    h = node_history(store, "dev", "model/chat")
    assert [(v["version"], v["serial"], v["apply_id"]) for v in h["versions"]] == [("1.0.0", 3, "3.a")]


def test_the_explorers_timeline_is_this_history(tmp_path: Path) -> None:
    from modelplane.docs_site.history import node_histories

    store = StateStore(tmp_path / "s.db")
    _apply(store, "1.a", [("model/chat", model("1.0.0")), ("endpoint/chat", EP), ("workflow/train", WF)],
           [("rollout:endpoint/chat", "rollout", "endpoint/chat", "succeeded", {"revision": "r1", "first": True})],
           "1.0.0")  # fmt: skip
    verdicts = [{"step": 0, "weight": 20, "gate": "errors", "result": "fail", "reason": "3 errors in 40"}]
    _apply(store, "2.a", [("model/chat", model("1.1.0"))],
           [("rollout:endpoint/chat", "rollout", "endpoint/chat", "failed",
             {"rolled_back": True, "revision": "r2", "stable": "r1", "reason": "step 1: errors", "analysis": verdicts})],
           "1.1.0")  # fmt: skip
    store.history_begin("3.a", "dev", "plan-3.a", "apply/p/dev", "bob@laptop")
    store.record("dev", "3.a", deletes=["workflow/train"])
    store.history_end("3.a", "succeeded", {})
    h = histories(store, "dev")
    # a document with spec.version is told apart by it; one without, by a digest
    assert h["model/chat"]["versions"][0]["digest"] is None
    assert h["endpoint/chat"]["versions"][0]["digest"] and h["endpoint/chat"]["versions"][0]["version"] is None
    timelines = node_histories(store, "dev")
    ep = timelines["endpoint/chat"]
    assert [e["title"] for e in ep] == [
        f"applied #{h['endpoint/chat']['versions'][0]['digest']} (created)",
        "rollout r1 (model 1.0.0): first deployment",
        "rollout r2 (model 1.1.0) from r1: rolled back",
    ]
    assert ep[2]["lines"] == ["reason: step 1: errors", "step 1 20%: fail (errors) 3 errors in 40", "weights: r1 100%"]
    assert ep[2]["detail"] == {"apply": "2.a", "plan": "plan-2.a", "by": "alice@laptop", "version": None}
    chat = [(e["type"], e["title"]) for e in timelines["model/chat"]]
    assert ("applied", "applied version 1.1.0 (changed spec.artifact, spec.version)") in chat
    assert ("registered", "registered version 1.1.0") in chat
    assert [e["title"] for e in timelines["workflow/train"]][-1] == "deleted"
    assert all(a["at"] <= b["at"] for t in timelines.values() for a, b in pairwise(t))
    store.close()
