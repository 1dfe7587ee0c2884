"""Every stage reads the normalized value of a spec, never the YAML as written.

Each test here failed before documents were normalized: the graph, impact and
plan read ``spec.get("blocking", True)`` and friends on the document as
written, so ``blocking: no`` (the string "no" under YAML 1.2) still gated and
``retrain_on_change: no`` still retrained; ``validate`` ran fewer checks than
``plan``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.change.state import AppliedNode, AppliedState
from modelplane.compiler.compile import compile_graph, graph_from_state, make_plan
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.source.files import GitSource
from modelplane.errors import SpecError
from modelplane.specs.base import NodeId
from modelplane.stacks.engine import revision_id
from tests.conftest import GIT_ENV

runner = CliRunner()

DATA = """
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: tickets, owner: team-data}
spec:
  uri: s3://lake/tickets/
  format: parquet
  schema:
    columns:
      - {name: id, type: string}
      - {name: body, type: string}
"""

ML = """
apiVersion: modelplane/v1
kind: Workflow
metadata: {name: train, owner: team-ml}
spec:
  inputs: [dataset/tickets]
  outputs: [model/chat]
  command: [python3, train.py]
  retrain_on_change: {retrain}
---
apiVersion: modelplane/v1
kind: Model
metadata: {name: chat, owner: team-ml}
spec:
  version: "1.0.0"
  artifact: s3://models/chat/1.0.0/
  parameters_b: 1
  trained_on: {datasets: [tickets], workflow: train}
---
apiVersion: modelplane/v1
kind: Evaluation
metadata: {name: chat-quality, owner: team-ml}
spec:
  model: chat
  dataset: tickets
  blocking: {blocking}
  command: [python3, eval.py]
  metrics: [{name: accuracy, min: 0.5}]
"""

SERVING = """
apiVersion: modelplane/v1
kind: Stack
metadata: {name: local, owner: team-platform}
spec: {provider: local}
---
apiVersion: modelplane/v1
kind: Endpoint
metadata: {name: chat, owner: team-serving}
spec:
  model: chat
  stack: local
  resources: {accelerator: {accelerator}}
  traffic: {qps: 5}
  slo: {p99_latency_ms: 1000}
  autoscaling: {min_replicas: 1, max_replicas: 2}
---
apiVersion: modelplane/v1
kind: Service
metadata: {name: bot, owner: team-product}
spec: {consumes: [endpoint/chat], tier: 1}
"""


def _files(blocking: str = "true", retrain: str = "true", accelerator: str = "L4") -> dict[str, str]:
    return {
        "specs/data.yaml": DATA,
        "specs/ml.yaml": ML.replace("{blocking}", blocking).replace("{retrain}", retrain),
        "specs/serving.yaml": SERVING.replace("{accelerator}", accelerator),
    }


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True)


def _commit(root: Path) -> None:
    if not (root / ".git").exists():
        _git(root, "init", "-q", "-b", "main")
        (root / ".gitignore").write_text(".modelplane/\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "step")


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def _gates(root: Path) -> list[str]:
    graph = compile_graph(root, use_cache=False).graph
    return [f"{e.source}->{e.target}" for e in graph.edges if e.kind == "gates"]


@pytest.mark.parametrize("spelling", ["no", "No", "NO", "off", "OFF", "false", "False"])
def test_blocking_no_does_not_gate(make_project: Callable[..., Path], spelling: str) -> None:
    root = make_project(_files(blocking=spelling))
    assert _gates(root) == []
    node = compile_graph(root, use_cache=False).graph.nodes[NodeId("evaluation", "chat-quality")]
    assert node.spec["blocking"] is False and node.model.spec.blocking is False


@pytest.mark.parametrize("spelling", ["yes", "Yes", "on", "ON", "true", "TRUE"])
def test_blocking_yes_gates(make_project: Callable[..., Path], spelling: str) -> None:
    root = make_project(_files(blocking=spelling))
    assert _gates(root) == ["evaluation/chat-quality->endpoint/chat"]


def test_a_non_blocking_evaluation_does_not_hold_the_rollout(make_project: Callable[..., Path]) -> None:
    root = make_project(_files(blocking="no"))
    _commit(root)
    _edit(root, "specs/ml.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    actions = {a.id: a for a in make_plan(root, base_ref="HEAD", use_cache=False).plan.actions}
    assert "evaluate:evaluation/chat-quality" in actions  # it still runs for the new version
    assert "evaluate:evaluation/chat-quality" not in actions["rollout:endpoint/chat"].depends_on


@pytest.mark.parametrize("other", ["y", "1", "maybe", "nope"])
def test_other_boolean_spellings_are_rejected_at_their_line(make_project: Callable[..., Path], other: str) -> None:
    root = make_project(_files(blocking=other))
    with pytest.raises(SpecError) as err:
        compile_graph(root, use_cache=False)
    (d,) = err.value.diagnostics
    assert d.code == "invalid-value"
    assert d.location is not None and (d.location.file, d.location.line) == ("specs/ml.yaml", 25)
    assert "expected true or false" in d.message and other in d.message
    assert d.hint is not None and "yes/no" in d.hint and "on/off" in d.hint


def test_retrain_on_change_no_does_not_schedule_a_retrain(make_project: Callable[..., Path]) -> None:
    root = make_project(_files(retrain="no"))
    _commit(root)
    _edit(root, "specs/data.yaml", "uri: s3://lake/tickets/", "uri: s3://lake/tickets-v2/")
    plan = make_plan(root, base_ref="HEAD", use_cache=False).plan
    assert "run-workflow:workflow/train" not in {a.id for a in plan.actions}
    (wf,) = [i for i in plan.impact if i.id == "workflow/train"]
    assert wf.category == "notify"
    assert "retrain_on_change is off" in wf.reasons[-1]


def test_retrain_on_change_left_out_schedules_a_retrain(make_project: Callable[..., Path]) -> None:
    files = _files()
    files["specs/ml.yaml"] = files["specs/ml.yaml"].replace("  retrain_on_change: true\n", "")
    root = make_project(files)
    _commit(root)
    _edit(root, "specs/data.yaml", "uri: s3://lake/tickets/", "uri: s3://lake/tickets-v2/")
    plan = make_plan(root, base_ref="HEAD", use_cache=False).plan
    assert "run-workflow:workflow/train" in {a.id for a in plan.actions}


def test_validate_rejects_what_plan_rejects(make_project: Callable[..., Path]) -> None:
    root = make_project(_files(accelerator="cpu"))
    for args in (["validate"], ["validate", "--no-cache"], ["plan"]):
        result = runner.invoke(app, [*args, "-C", str(root)])
        assert result.exit_code == 1, (args, result.output)
        assert "error[unknown-accelerator]: unknown accelerator `cpu`" in result.output, args
        assert "--> specs/serving.yaml:12:28" in result.output, args
    result = runner.invoke(app, ["validate", "-C", str(root), "--format", "json"])
    assert [e["code"] for e in json.loads(result.output)["errors"]] == ["unknown-accelerator"]


def test_validate_shows_the_warnings_plan_shows(make_project: Callable[..., Path]) -> None:
    files = _files()
    files["specs/serving.yaml"] = files["specs/serving.yaml"].replace(
        "traffic: {qps: 5}", "traffic: {qps: 50}\n  capacity: {target_qps_per_replica: 5}"
    )
    root = make_project(files)
    for _ in range(2):  # cold, then from the verdict cache
        result = runner.invoke(app, ["validate", "-C", str(root)])
        assert result.exit_code == 0, result.output
        assert "warning[insufficient-replicas]" in result.output
    payload = json.loads(runner.invoke(app, ["validate", "-C", str(root), "-f", "json"]).output)
    assert [w["code"] for w in payload["warnings"]] == ["insufficient-replicas"]


DEFAULTS_WRITTEN_OUT = {
    # (file, as written, with defaults written out, and a value written as another type of the same meaning)
    "specs/ml.yaml": [
        ("  parameters_b: 1\n", "  parameters_b: 1.0\n  dtype: bf16\n  context_length: 4096\n"),
        ("  blocking: true\n", "  blocking: yes\n  timeout: 30m\n"),
        ("  retrain_on_change: true\n", "  retrain_on_change: On\n  timeout: 1h\n  image: null\n"),
    ],
    "specs/data.yaml": [("  format: parquet\n", '  format: parquet\n  version: "1"\n  derived_from: []\n')],
    "specs/serving.yaml": [
        (
            "  autoscaling: {min_replicas: 1, max_replicas: 2}\n",
            "  autoscaling: {min_replicas: 1, max_replicas: 2, metric: concurrency}\n"
            "  rollout:\n"
            "    strategy: canary\n"
            "    steps:\n"
            "      - {weight: 5, pause: 1m}\n"
            "      - {weight: 25, pause: 1m, analysis: true}\n"
            "      - {weight: 50, pause: 1m}\n"
            "      - {weight: 100}\n"
            "    on_failure: rollback\n",
        ),
        ("  traffic: {qps: 5}\n", "  traffic: {qps: 5.0, input_tokens: 50}\n  engine: {name: vllm}\n"),
    ],
}


def test_writing_a_default_out_is_not_a_change(make_project: Callable[..., Path]) -> None:
    root = make_project(_files())
    _commit(root)
    for rel, edits in DEFAULTS_WRITTEN_OUT.items():
        for old, new in edits:
            _edit(root, rel, old, new)
    _commit(root)
    result = runner.invoke(app, ["plan", "-C", str(root), "--base", "HEAD~1", "--detailed-exitcode"])
    assert result.exit_code == 0, result.output
    assert "No changes" in result.output
    planned = make_plan(root, base_ref="HEAD~1", use_cache=False)
    assert planned.plan.changes == [] and planned.plan.actions == []
    # the two sides are the same value: same fingerprints, same serving revision
    git = GitSource.for_project(root, "HEAD~1")
    try:
        base = compile_graph(root, source=git, use_cache=False)
    finally:
        git.close()
    assert base.fingerprints == planned.head.fingerprints
    for graph in (base.graph, planned.head.graph):
        assert graph.nodes[NodeId("endpoint", "chat")].data == planned.head.graph.nodes[NodeId("endpoint", "chat")].data

    def revision(graph: LineageGraph) -> str:
        return revision_id(graph.nodes[NodeId("endpoint", "chat")].data, graph.nodes[NodeId("model", "chat")].data)

    assert revision(base.graph) == revision(planned.head.graph)


def test_an_applied_state_recorded_as_written_compares_normalized(make_project: Callable[..., Path]) -> None:
    """A state an older version recorded holds documents as written; they compare by value."""
    root = make_project(_files())
    head = compile_graph(root, use_cache=False).graph
    ep = head.nodes[NodeId("endpoint", "chat")]
    as_written = {
        "apiVersion": "modelplane/v1",
        "kind": "Endpoint",
        "metadata": {"name": "chat", "owner": "team-serving"},
        "spec": {
            "model": "chat",
            "stack": "local",
            "resources": {"accelerator": "L4"},
            "traffic": {"qps": 5},
            "slo": {"p99_latency_ms": 1000},
            "autoscaling": {"min_replicas": 1, "max_replicas": 2},
        },
    }
    state = AppliedState(serial=1, nodes={"endpoint/chat": AppliedNode("Endpoint", ep.file, ep.index, as_written)})
    node = graph_from_state(head.specs, state).nodes[NodeId("endpoint", "chat")]
    assert node.data == ep.data
    assert node.spec["rollout"]["steps"][0] == {"weight": 5, "pause": "1m", "analysis": True}


def test_the_order_a_map_is_written_in_is_not_a_change(make_project: Callable[..., Path]) -> None:
    """Labels, engine extra_args and stack settings are maps: writing their keys in another order
    changes neither the normalized document nor any fingerprint (they hash the serializer's bytes)."""
    files = _files()
    files["specs/data.yaml"] = DATA.replace("owner: team-data}", "owner: team-data, labels: {b: x, a: y}}")
    files["specs/serving.yaml"] = (
        files["specs/serving.yaml"]
        .replace("spec: {provider: local}", "spec: {provider: local, settings: {z: 1, m: {y: 2, x: [{q: 1, p: 2}]}}}")
        .replace("  traffic: {qps: 5}", "  engine: {extra_args: {seed: 4, block-size: 16}}\n  traffic: {qps: 5}")
    )
    root = make_project(files)
    _commit(root)
    _edit(root, "specs/data.yaml", "labels: {b: x, a: y}", "labels: {a: y, b: x}")
    _edit(
        root,
        "specs/serving.yaml",
        "settings: {z: 1, m: {y: 2, x: [{q: 1, p: 2}]}}",
        "settings: {m: {x: [{p: 2, q: 1}], y: 2}, z: 1}",
    )
    _edit(root, "specs/serving.yaml", "{seed: 4, block-size: 16}", "{block-size: 16, seed: 4}")
    _commit(root)
    planned = make_plan(root, base_ref="HEAD~1", use_cache=False)
    assert planned.plan.changes == [] and planned.plan.actions == []
    git = GitSource.for_project(root, "HEAD~1")
    try:
        base = compile_graph(root, source=git, use_cache=False)
    finally:
        git.close()
    assert base.fingerprints == planned.head.fingerprints
    head = planned.head.graph
    assert list(head.nodes[NodeId("dataset", "tickets")].data["metadata"]["labels"]) == ["a", "b"]
    assert list(head.nodes[NodeId("stack", "local")].spec["settings"]["m"]["x"][0]) == ["p", "q"]


def test_a_recorded_state_hashes_as_its_files_do() -> None:
    """The state holds normalized documents; read back, validated again and hashed (own hashes are of
    the serializer's bytes), every one of the example platform's has the fingerprint its file has."""
    from modelplane.compiler.graph.fingerprint import fingerprints
    from tests.conftest import EXAMPLES

    head = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False)
    recorded = {
        str(nid): AppliedNode(n.kind, n.file, n.index, json.loads(json.dumps(n.data)))
        for nid, n in head.graph.nodes.items()
    }
    fresh = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph.specs
    for node in fresh.nodes.values():
        node.own = None  # nothing shared with the head: every document is hashed from the state's copy
        node._data = {}  # and equals no head document, so the state's is validated and serialized again
    from_state = graph_from_state(fresh, AppliedState(serial=1, nodes=recorded))
    assert all(n.own is None for n in from_state.nodes.values())
    assert fingerprints(from_state) == head.fingerprints


def test_own_hashes_are_of_the_spec_and_metadata_as_serialized() -> None:
    """``serialized`` finds the metadata and the spec inside the document's JSON; each hash is of
    exactly what serializing that part alone gives (labels with braces and quotes included)."""
    import hashlib

    from modelplane.compiler.graph.fingerprint import serialized
    from modelplane.specs.base import Metadata
    from tests.conftest import EXAMPLES

    graph = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph
    models = [n.model for n in graph.nodes.values()]
    tricky = models[0].model_copy(
        update={"metadata": Metadata(name="x", owner="o", description='a },"spec":{ b', labels={"spec": '}"'})}
    )
    for model in [*models, tricky]:
        _, (spec, meta) = serialized(model)

        def h(part: object) -> str:
            data = part.__pydantic_serializer__.to_json(part, by_alias=True)  # type: ignore[attr-defined]
            return hashlib.blake2b(data, digest_size=12).hexdigest()

        assert (spec, meta) == (h(model.spec), h(model.metadata))
