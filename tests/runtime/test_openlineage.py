"""OpenLineage out, piece by piece: every event the quickstart's nodes and runs make validates against the
spec's JSON schemas; the emitter delivers them over HTTP, and neither a dead receiver, a slow one, a full
buffer nor an event that cannot be built ever raises into (or holds up) the apply."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.serde import Serde

from modelplane.compiler.compile import compile_graph
from modelplane.runtime.apply import lineage_settings
from modelplane.runtime.lineage.emitter import Emitter, client_config, emitter_for, make_client
from modelplane.runtime.lineage.events import node_event, run_event
from modelplane.specs.project import LineageSettings, LineageTransport, Project
from tests.conftest import EXAMPLES
from tests.runtime.openlineage_schema import problems, receiver

NS = "modelplane://quickstart/dev"


def as_json(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = Serde.to_dict(event)
    return out


@pytest.fixture(scope="module")
def quickstart() -> dict[str, dict[str, Any]]:
    g = compile_graph(EXAMPLES / "quickstart", "dev", use_cache=False).graph
    return {str(n): node.data for n, node in g.nodes.items()}


def test_node_events_validate_and_map_kinds(quickstart: dict[str, dict[str, Any]]) -> None:
    events = {i: as_json(e) for i, d in quickstart.items() if (e := node_event(NS, i, d)) is not None}
    assert "stack/local" not in events  # infrastructure, not lineage
    for i, e in events.items():
        assert problems(e) == [], (i, problems(e))
    model = events["model/tiny-chat"]["dataset"]["facets"]
    assert model["datasetType"]["datasetType"] == "MODEL"
    assert {x["name"] for x in model["lineage"]["inputs"]} == {"dataset/support-pairs", "workflow/finetune-tiny-chat"}
    assert (
        events["dataset/support-pairs"]["dataset"]["facets"]["lineage"]["inputs"][0]["name"]
        == "dataset/support-tickets"
    )
    assert [f["name"] for f in events["dataset/support-tickets"]["dataset"]["facets"]["schema"]["fields"]] == [
        "ticket_id", "body", "reply", "created_at"
    ]  # fmt: skip
    wf = events["workflow/finetune-tiny-chat"]
    assert wf["job"]["facets"]["jobType"]["processingType"] == "BATCH"
    assert [d["name"] for d in wf["inputs"]] == ["dataset/support-pairs"]
    assert [d["name"] for d in wf["outputs"]] == ["model/tiny-chat"]
    entries = wf["job"]["facets"]["lineage"]["entries"]
    assert entries[0]["type"] == "JOB" and entries[0]["inputs"][0]["name"] == "dataset/support-pairs"
    assert entries[1] == {"namespace": NS, "name": "model/tiny-chat", "type": "DATASET", "inputs": [{"type": "JOB", "transformations": []}],
                          "fields": {}}  # fmt: skip
    for service_job in ("endpoint/tiny-chat", "service/support-bot"):
        assert events[service_job]["job"]["facets"]["jobType"]["processingType"] == "SERVICE"
    # a service consuming an endpoint: a job -> job edge
    consumes = events["service/support-bot"]["job"]["facets"]["lineage"]["entries"][0]["inputs"]
    assert consumes == [{"namespace": NS, "name": "endpoint/tiny-chat", "type": "JOB", "transformations": []}]


def test_run_events_validate_with_metrics_and_verdicts(quickstart: dict[str, dict[str, Any]]) -> None:
    ev = quickstart["evaluation/tiny-chat-quality"]
    out = {
        "metrics": {"exact_match": 0.2, "toxicity": 0.0},
        "failed": ["exact_match=0.2 below min 0.3"],
        "blocking": True,
    }
    start = as_json(run_event(NS, "START", "k1", "evaluate", "evaluation/tiny-chat-quality", ev))
    end = as_json(run_event(NS, "FAIL", "k1", "evaluate", "evaluation/tiny-chat-quality", ev, out, "failed (blocking)"))
    for e in (start, end):
        assert problems(e) == [], problems(e)
    assert start["run"]["runId"] == end["run"]["runId"]
    tests = {t["name"]: t for t in end["run"]["facets"]["test"]["tests"]}
    assert tests["exact_match"]["status"] == "fail" and tests["exact_match"]["actual"] == "0.2"
    assert tests["exact_match"]["expected"] == ">= 0.3" and tests["exact_match"]["severity"] == "error"
    assert tests["toxicity"]["status"] == "pass" and tests["toxicity"]["expected"] == "<= 0.01"
    assert end["run"]["facets"]["errorMessage"]["message"] == "failed (blocking)"
    rollout = {"revision": "r2", "previous": "r1", "analysis": [{"step": 0, "weight": 20, "gate": "errors",
               "result": "pass", "reason": "0 errors"}]}  # fmt: skip
    done = as_json(run_event(NS, "COMPLETE", "k2", "rollout", "endpoint/tiny-chat", None, rollout))
    assert problems(done) == [], problems(done)
    facet = done["run"]["facets"]["modelplane_rollout"]
    assert facet["revision"] == "r2" and facet["verdicts"][0]["result"] == "pass"


def test_problems_catches_a_broken_event(quickstart: dict[str, dict[str, Any]]) -> None:
    bad = as_json(run_event(NS, "START", "k", "evaluate", "evaluation/tiny-chat-quality", None))
    bad["run"]["runId"] = "not-a-uuid"
    bad["eventType"] = "BEGUN"
    del bad["job"]["name"]
    found = " ".join(problems(bad))
    assert "BEGUN" in found and "name" in found and "not-a-uuid" in found


def _wait(cond: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_http_receiver_gets_the_events(quickstart: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    with receiver() as rec:
        settings = LineageSettings(namespace=NS, transport=LineageTransport(type="http", url=rec.url))
        em = Emitter(make_client(settings, tmp_path))
        em.send(lambda: [node_event(NS, i, d) for i, d in quickstart.items()])
        assert _wait(lambda: len(rec.received()) == 7), rec.received()
        assert all(problems(e) == [] for e in rec.received())
        assert em.sent == 7 and em.dropped == 0


def test_a_dead_or_slow_receiver_never_fails_nor_slows_the_caller(
    quickstart: dict[str, dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "modelplane.lineage")
    with receiver(status=503) as rec:
        settings = LineageSettings(namespace=NS, transport=LineageTransport(type="http", url=rec.url), retries=1)
        em = Emitter(make_client(settings, tmp_path), buffer=3, retries=1)
        t = time.perf_counter()
        for _ in range(5):  # more than the buffer holds
            em.send(lambda: [node_event(NS, "dataset/support-pairs", quickstart["dataset/support-pairs"])])
        assert time.perf_counter() - t < 0.5  # queued, never sent inline
        assert _wait(lambda: em.queue.unfinished_tasks == 0, 15)
    assert em.sent == 0 and em.dropped == 5
    text = caplog.text
    assert "dropping new ones" in text and "could not send a DatasetEvent after 2 tries" in text


def test_a_refused_connection_is_a_warning(
    quickstart: dict[str, dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "modelplane.lineage")
    with socket.socket() as s:  # a port nothing listens on: bound, then closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = LineageSettings(namespace=NS, transport=LineageTransport(type="http", url=f"http://127.0.0.1:{port}"))
    em = Emitter(make_client(settings, tmp_path), retries=0)
    t = time.perf_counter()
    em.send(lambda: [node_event(NS, "model/tiny-chat", quickstart["model/tiny-chat"])])
    assert time.perf_counter() - t < 0.5  # queued, never sent inline
    assert em.drain(10)
    assert em.sent == 0 and em.dropped == 1
    assert "could not send a DatasetEvent after 1 try (ConnectionError" in caplog.text


class _Slow:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.got: list[Any] = []

    def emit(self, event: Any) -> None:
        self.release.wait(5)
        self.got.append(event)


def test_building_errors_are_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "modelplane.lineage")
    slow = _Slow()
    em = Emitter(slow, buffer=10)

    def broken() -> list[Any]:
        raise KeyError("spec")

    em.send(broken)  # no exception
    em.send(lambda: ["e1"])
    slow.release.set()
    assert _wait(lambda: slow.got == ["e1"])
    assert "could not build events (KeyError" in caplog.text


def test_settings_are_validated_and_resolved(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs `url:`"):
        LineageTransport(type="http")
    with pytest.raises(ValueError, match="carries credentials"):
        LineageTransport(type="http", url="http://user:pw@host:5000")
    with pytest.raises(ValueError, match="needs `path:`"):
        LineageTransport(type="file")
    with pytest.raises(ValueError):
        Project.model_validate({"name": "p", "lineage": {"transport": {"type": "kafka"}}})
    p = Project.model_validate({"name": "p", "lineage": {"transport": {"type": "file", "path": "ol.jsonl"}}})
    resolved = lineage_settings(p.lineage, "p", "dev", {})
    assert resolved is not None and resolved.namespace == "modelplane://p/dev"
    assert client_config(resolved, tmp_path) == {
        "transport": {"type": "file", "log_file_path": str(tmp_path / "ol.jsonl"), "append": True}
    }
    assert lineage_settings(None, "p", "dev", {}) is None  # nothing configured: nothing sent
    from_env = lineage_settings(None, "p", "dev", {"OPENLINEAGE_URL": "http://x"})
    assert from_env is not None and from_env.transport is None  # the client reads its own variables
    assert lineage_settings(LineageSettings(enabled=False), "p", "dev", {"OPENLINEAGE_URL": "http://x"}) is None


def test_file_transport_writes_json_lines(quickstart: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    import json

    settings = LineageSettings(namespace=NS, transport=LineageTransport(type="file", path="ol.jsonl"))
    em = emitter_for(settings, tmp_path)
    assert em is not None
    em.send(lambda: [node_event(NS, "model/tiny-chat", quickstart["model/tiny-chat"])])
    assert em.drain(10)
    lines = (tmp_path / "ol.jsonl").read_text().splitlines()
    assert len(lines) == 1 and problems(json.loads(lines[0])) == []
