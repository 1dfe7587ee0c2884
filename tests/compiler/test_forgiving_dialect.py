"""The forgiving dialect: spellings people use elsewhere are read, each with one canonical meaning.

A value written another way normalizes to the same value (and so the same fingerprint):
the example platform rewritten in the dialect plans as no change against itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.specs.base import NodeId
from modelplane.specs.common import canonical_duration, duration_ms
from tests.conftest import EXAMPLES, GIT_ENV

MakeProject = Callable[..., Path]

SPECS = """\
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: events, owner: team-data}
spec:
  uri: s3://lake/events/
  format: delta
  version: 7
  freshness: 1w
  schema:
    columns:
      - {name: id, type: int}
      - {name: score, type: double}
      - {name: body, type: VARCHAR}
      - {name: at, type: datetime}
      - {name: ok, type: boolean}
---
apiVersion: modelplane/v1
kind: Workflow
metadata: {name: train, owner: team-ml}
spec:
  inputs: [dataset/events]
  outputs: [model/chat]
  command: python3 train.py --name "my run" --epochs 2
  timeout: 1h30m
---
apiVersion: modelplane/v1
kind: Model
metadata: {name: chat, owner: team-ml}
spec:
  version: 1.5
  artifact: s3://models/chat/
  parameters_b: 1
  trained_on: {datasets: [dataset/events], workflow: workflow/train}
---
apiVersion: modelplane/v1
kind: Evaluation
metadata: {name: chat-eval, owner: team-ml}
spec:
  model: model/chat
  dataset: events
  command: [python3, eval.py, --n, 2]
  metrics: [{name: acc, min: 0.5}]
  timeout: 90m
---
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
  stack: stack/local
  resources: {accelerator: l4}
  traffic: {qps: 5}
  slo: {p99_latency_ms: 1000}
  autoscaling: {min_replicas: 1, max_replicas: 2}
  rollout:
    steps:
      - {weight: 10, pause: 120s}
      - {weight: 100}
"""


def test_each_spelling_has_its_canonical_value(make_project: MakeProject) -> None:
    graph = compile_graph(make_project({"specs/all.yaml": SPECS}), use_cache=False).graph
    ds = graph.nodes[NodeId("dataset", "events")].spec
    assert ds["version"] == "7"
    assert ds["freshness"] == "7d"
    assert [c["type"] for c in ds["schema"]["columns"]] == ["int64", "float64", "string", "timestamp", "bool"]
    wf = graph.nodes[NodeId("workflow", "train")].spec
    assert wf["command"] == ["python3", "train.py", "--name", "my run", "--epochs", "2"]
    assert wf["timeout"] == "1h30m"
    model = graph.nodes[NodeId("model", "chat")].spec
    assert model["version"] == "1.5"  # written exactly as the float prints: nothing lost
    assert model["trained_on"] == {"datasets": ["events"], "features": [], "workflow": "train"}
    ev = graph.nodes[NodeId("evaluation", "chat-eval")].spec
    assert (ev["model"], ev["command"], ev["timeout"]) == ("chat", ["python3", "eval.py", "--n", "2"], "1h30m")
    ep = graph.nodes[NodeId("endpoint", "chat")].spec
    assert (ep["stack"], ep["resources"]["accelerator"]) == ("local", "L4")
    assert ep["rollout"]["steps"][0]["pause"] == "2m"
    # the references written `kind/name` link like the bare names
    assert {str(e.source) for e in graph.in_edges(NodeId("model", "chat"))} >= {"dataset/events", "workflow/train"}


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("90s", "1m30s"), ("90m", "1h30m"), ("1h30m", "1h30m"), ("1w", "7d"), ("1500ms", "1s500ms"), ("0s", "0s")],
)
def test_durations_have_one_spelling(written: str, canonical: str) -> None:
    assert canonical_duration(duration_ms(written)) == canonical


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True)


def _forgiving(text: str, counts: dict[str, int]) -> str:
    """The same specs in the dialect: other names for column types and durations, commands as one
    string, `kind/name` where the kind is fixed, accelerators in lower case, defaults written out."""

    def sub(label: str, pattern: str, repl: str | Callable[[re.Match[str]], str], s: str) -> str:
        out, n = re.subn(pattern, repl, s, flags=re.MULTILINE)
        counts[label] = counts.get(label, 0) + n
        return out

    types = {"string": "varchar", "int64": "bigint", "float64": "double", "bool": "boolean", "timestamp": "datetime"}
    text = sub("column types", r"type: (string|int64|float64|bool|timestamp)\b", lambda m: f"type: {types[m[1]]}", text)
    text = sub("nullable", r"nullable: false", "nullable: no", text)
    text = sub(
        "commands",
        r'command: \[((?:"[^" ]+"(?:, )?)+)\]',
        lambda m: "command: " + " ".join(x.strip('"') for x in m[1].split(", ")),
        text,
    )
    longer = {"1d": "24h", "1h": "60m", "10m": "600s", "15m": "900s", "2m": "120s", "60s": "1m", "1m": "60s"}
    text = sub(
        "durations",
        r"(freshness|pause|window|period|timeout|stabilization): (1d|1h|10m|15m|2m|60s|1m)\b",
        lambda m: f"{m[1]}: {longer[m[2]]}",
        text,
    )
    text = sub("references", r"^  model: ([a-z0-9-]+)$", r"  model: model/\1", text)
    text = sub("references", r"^  stack: ([a-z0-9-]+)$", r"  stack: stack/\1", text)
    text = sub("references", r"^    - dataset: ([a-z0-9-]+)$", r"    - dataset: dataset/\1", text)
    text = sub("accelerators", r"accelerator: (H100|L40S|L4)\b", lambda m: f"accelerator: {m[1].lower()}", text)
    docs = text.split("\n---\n")
    for i, doc in enumerate(docs):  # a dataset's default version, written out as a number
        if "kind: Dataset" in doc and "  version:" not in doc:
            docs[i] = sub("versions", r"^  format: (\w+)$", r"  format: \1\n  version: 1", doc)
    return "\n---\n".join(docs)


def test_the_example_platform_in_the_dialect_plans_as_no_change(tmp_path: Path) -> None:
    root = tmp_path / "assistant-platform"
    shutil.copytree(EXAMPLES / "assistant-platform", root, ignore=shutil.ignore_patterns(".modelplane"))
    (root / ".gitignore").write_text(".modelplane/\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "canonical")
    canonical = compile_graph(root, "prod", use_cache=False)
    counts: dict[str, int] = {}
    for path in sorted((root / "specs").rglob("*.yaml")):
        path.write_text(_forgiving(path.read_text(), counts))
    # every kind of rewrite happened, and often
    assert all(n >= 3 for n in counts.values()), counts
    _git(root, "commit", "-q", "-am", "the same specs in the forgiving dialect")
    forgiving = compile_graph(root, "prod", use_cache=False)
    assert forgiving.fingerprints == canonical.fingerprints
    assert [n.data for n in forgiving.graph.nodes.values()] == [n.data for n in canonical.graph.nodes.values()]
    planned = make_plan(root, "prod", base_ref="HEAD~1", use_cache=False)
    assert planned.plan.changes == [] and planned.plan.actions == []
