"""The generated JSON Schema, judged by the real yaml-language-server (npm) over stdio.

Valid specs (every example, `${var.x}` in integer and number fields included) get no diagnostics, and
the usual typos (an unknown field, a wrong type, a bad enum value, a secret where none may go) do.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from modelplane.specs.schema import project_schema, spec_schema
from modelplane.templates.scaffold import editor_files, scaffold
from tests.conftest import EXAMPLES
from tests.lsp.yaml_ls import yaml_diagnostics

# a real server process (the language server, or node's yaml-language-server) over stdio
pytestmark = pytest.mark.integration


def _example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*/specs/**/*.yaml")) + sorted(EXAMPLES.glob("*/modelplane.yaml"))


def test_every_example_is_clean_under_its_own_modeline() -> None:
    files = _example_files()
    assert len(files) >= 13
    for path in files:
        assert path.read_text().startswith("# yaml-language-server: $schema="), path
    found = asyncio.run(yaml_diagnostics(None, {p.resolve(): p.read_text() for p in files}))
    assert {str(p): d for p, d in found.items() if d} == {}


def test_schema_mapping_accepts_examples_and_flags_the_usual_typos(tmp_path: Path) -> None:
    schema = tmp_path / "spec.json"
    schema.write_text(json.dumps(spec_schema()))
    docs: dict[Path, str] = {}
    for i, path in enumerate(sorted(EXAMPLES.glob("*/specs/**/*.yaml"))):
        # without its modeline (which would win over the mapping under test)
        docs[tmp_path / f"example-{i}.yaml"] = path.read_text().split("\n", 1)[1]
    good = """apiVersion: modelplane/v1
kind: Dataset
metadata: {name: ok, owner: team}
spec:
  uri: "${secret.BUCKET_URI}"
  format: jsonl
  freshness: ${var.freshness}
  schema: {columns: [{name: id, type: string}]}
---
apiVersion: modelplane/v1
kind: Endpoint
metadata: {name: ep, owner: team, description: "for ${var.env}"}
spec:
  model: chat
  stack: ${var.stack}
  resources:
    accelerator: h100
    gpus_per_replica: ${var.gpus}
  engine:
    args:
      gpu_memory_utilization: ${var.util}
      dtype: ${var.dtype}
  traffic: {qps: 10}
  slo:
    p99_latency_ms: ${var.p99}
  autoscaling: {min_replicas: 1, max_replicas: 2}
  capacity: {target_qps_per_replica: 5}
"""
    typos = """apiVersion: modelplane/v1
kind: Dataset
metadata: {name: fine, owner: team}
spec: {uri: s3://b/x, format: jsonl, schema: {columns: [{name: id, type: string}]}}
---
apiVersion: modelplane/v1
kind: Endpoint
metadata:
  name: ep
  owner: team
  descripton: typo
spec:
  model: chat
  stack: local
  resources: {accelerator: h100, gpus_per_replica: two}
  engine: {args: {dtype: float8}}
  traffic: {qps: 10}
  slo: {p99_latency_ms: 100}
  autoscaling: {min_replicas: 1, max_replicas: 2}
  capacity: {target_qps_per_replica: 5}
  routing: {policy: "${secret.ROUTE}"}
"""
    docs[tmp_path / "good.yaml"] = good
    docs[tmp_path / "typos.yaml"] = typos
    for path, text in docs.items():
        path.write_text(text)
    found = asyncio.run(yaml_diagnostics(schema, docs))
    assert {p.name: d for p, d in found.items() if d and p.name != "typos.yaml"} == {}
    flagged = "\n".join(found[tmp_path / "typos.yaml"])
    assert "11: Property descripton is not allowed" in flagged  # unknown field (in the second document)
    assert '15: Incorrect type. Expected "integer"' in flagged  # wrong type
    assert '16: Value is not accepted. Valid values: "auto"' in flagged  # bad enum value
    assert "21: " in flagged  # a secret in a field that takes none
    assert not [line for line in flagged.splitlines() if line.startswith(("1:", "2:", "3:", "4:"))]


def test_every_field_and_enum_is_described_with_an_example() -> None:
    for schema in (spec_schema(), project_schema()):
        for name, model in schema["$defs"].items():
            for prop, sub in model.get("properties", {}).items():
                assert sub.get("description"), f"{name}.{prop}"
                if prop not in ("metadata", "spec") and "$ref" not in json.dumps(sub):
                    assert "examples" in sub, f"{name}.{prop}"


def test_committed_example_schemas_match_the_models() -> None:
    current = editor_files()
    for project in EXAMPLES.glob("*/modelplane.yaml"):
        for rel in ("schemas/spec.json", "schemas/project.json", ".vscode/settings.json"):
            committed = (project.parent / rel).read_text()
            assert committed == current[rel], f"{project.parent / rel} is stale: run tools/refresh_schemas.py"


def test_init_writes_modelines_and_the_schemas_they_name(tmp_path: Path) -> None:
    scaffold(tmp_path / "p")
    for spec in [*(tmp_path / "p").glob("specs/*.yaml"), tmp_path / "p" / "modelplane.yaml"]:
        first = spec.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), spec
        assert (spec.parent / first.split("=", 1)[1]).is_file(), first
    assert shutil.which("yaml-language-server")
    found = asyncio.run(yaml_diagnostics(None, {p: p.read_text() for p in (tmp_path / "p").glob("specs/*.yaml")}))
    assert {str(p): d for p, d in found.items() if d} == {}
