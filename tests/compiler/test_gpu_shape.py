"""GPU shape at validate: a replica fits one node of its pool (error), and uses every GPU it asks for (warning
naming the idle ones; fewer GPUs than tensor x pipeline x data parallel is an error), each at file:line:col."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from modelplane.cli import app

runner = CliRunner()

SPECS = """
apiVersion: modelplane/v1
kind: Stack
metadata: {{name: gpu, owner: t}}
spec:
  provider: kubernetes
  gpu_pools: [{{name: l4s, accelerator: L4, gpus_per_node: 2, max_nodes: 8}}]
---
apiVersion: modelplane/v1
kind: Model
metadata: {{name: m, owner: t}}
spec: {{version: "1", artifact: s3://m, parameters_b: 1}}
---
apiVersion: modelplane/v1
kind: Endpoint
metadata: {{name: ep, owner: t}}
spec:
  model: m
  stack: gpu
  engine:
    args: {{tensor_parallel_size: {tp}, data_parallel_size: {dp}}}
  resources:
    accelerator: L4
    gpus_per_replica: {gpus}
  traffic: {{qps: 10}}
  slo: {{p99_latency_ms: 1000}}
  autoscaling: {{min_replicas: 1, max_replicas: 2}}
"""
GPUS_LINE = SPECS.lstrip("\n").splitlines().index("    gpus_per_replica: {gpus}") + 1
"""Where the diagnostics point: the value of ``gpus_per_replica`` (line 23, column 23)."""


def validate(make_project: Callable[..., Path], **shape: int) -> tuple[int, dict[str, dict[str, object]]]:
    root = make_project({"specs/s.yaml": SPECS.format(**shape)})
    result = runner.invoke(app, ["validate", "-C", str(root), "--format", "json", "--no-cache"])
    payload = json.loads(result.output)
    found = {d["code"]: d for d in [*payload["errors"], *payload.get("warnings", [])] if d["code"].startswith("gpu-")}
    return result.exit_code, found


def test_a_replica_larger_than_a_node_is_an_error_at_gpus_per_replica(make_project: Callable[..., Path]) -> None:
    code, found = validate(make_project, tp=4, dp=1, gpus=4)
    assert code == 1
    d = found["gpu-node-fit"]
    assert (d["severity"], d["file"], d["line"], d["column"]) == ("error", "specs/s.yaml", GPUS_LINE, 23)
    assert "gpus_per_replica 4 does not fit a node of pool l4s on stack/gpu (2 x L4 per node)" in str(d["message"])
    assert "gpus_per_replica <= 2" in str(d["hint"])


def test_gpus_beyond_the_parallel_sizes_are_a_warning_naming_the_idle_ones(make_project: Callable[..., Path]) -> None:
    code, found = validate(make_project, tp=1, dp=1, gpus=2)
    assert code == 0  # a warning: validate passes
    d = found["gpu-idle"]
    assert (d["severity"], d["file"], d["line"], d["column"]) == ("warning", "specs/s.yaml", GPUS_LINE, 23)
    assert str(d["message"]).startswith("endpoint/ep: 1 of the 2 GPUs per replica would sit idle")
    assert "set gpus_per_replica: 1" in str(d["hint"])


def test_fewer_gpus_than_tensor_x_pipeline_x_data_is_an_error(make_project: Callable[..., Path]) -> None:
    code, found = validate(make_project, tp=1, dp=2, gpus=1)
    assert code == 1
    d = found["gpu-shape"]
    assert (d["line"], d["column"]) == (GPUS_LINE, 23)
    assert "data_parallel_size 2 = 2 GPUs per replica, but gpus_per_replica is 1" in str(d["message"])


def test_a_matching_shape_says_nothing(make_project: Callable[..., Path]) -> None:
    code, found = validate(make_project, tp=2, dp=1, gpus=2)
    assert code == 0 and found == {}
