"""The bundled examples validate in every environment, and the JSON Schema agrees with the models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from modelplane.compiler.load.loader import load
from modelplane.specs.schema import project_schema, spec_schema
from modelplane.templates.scaffold import render, scaffold
from tests.conftest import EXAMPLES


def example_documents() -> list[tuple[str, dict[str, object]]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*/specs/**/*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            docs.append((f"{path.relative_to(EXAMPLES)}#{i}", doc))
    return docs


@pytest.mark.parametrize(
    ("example", "env"), [("quickstart", "dev"), ("assistant-platform", "dev"), ("assistant-platform", "prod")]
)
def test_examples_validate(example: str, env: str) -> None:
    specs = load(EXAMPLES / example, env, use_cache=False)
    assert specs.environment == env
    assert len(specs.nodes) >= (8 if example == "quickstart" else 40)


def test_assistant_platform_mirrors_the_motivating_workload() -> None:
    specs = load(EXAMPLES / "assistant-platform", "prod", use_cache=False)
    ep = specs.nodes[("endpoint", "grammar-prod")].spec
    assert ep["traffic"] == {
        "qps": 200000,
        "input_tokens": 50,
        "output_tokens": 50,
        "ramp": {"percent_per_minute": 2.0},
    }
    assert ep["slo"]["p99_latency_ms"] == 1000 and ep["slo"]["availability"] == 0.9999
    assert ep["stack"] == "prod-gpu"
    dev = load(EXAMPLES / "assistant-platform", "dev", use_cache=False)
    dev_ep = dev.nodes[("endpoint", "grammar-prod")]
    assert dev_ep.spec["stack"] == "local"
    assert dev_ep.spec["autoscaling"]["min_replicas"] == 2  # `${var.x}` keeps the variable's type
    assert dev_ep.spec["capacity"]["target_qps_per_replica"] == 25  # environment override
    kinds = {n.kind for n in specs.nodes.values()}
    assert kinds == {"Dataset", "Feature", "Workflow", "Model", "Evaluation", "Endpoint", "Service", "Stack"}


def test_schema_accepts_every_example_document() -> None:
    validator = jsonschema.Draft202012Validator(spec_schema())
    docs = example_documents()
    assert len(docs) > 50
    for name, doc in docs:
        text = json.dumps(doc)
        if "${" in text:
            continue  # variables are resolved before validation; their raw form is not the schema's business
        errors = list(validator.iter_errors(doc))
        assert not errors, f"{name}: {errors[0].message}"


def test_schema_rejects_unknown_fields() -> None:
    validator = jsonschema.Draft202012Validator(spec_schema())
    doc = {
        "apiVersion": "modelplane/v1",
        "kind": "Dataset",
        "metadata": {"name": "d", "owner": "t"},
        "spec": {
            "uri": "s3://x",
            "format": "delta",
            "schema": {"columns": [{"name": "a", "type": "string"}]},
            "colour": "blue",
        },
    }
    errors = list(validator.iter_errors(doc))
    assert any("colour" in e.message for e in errors)
    del doc["spec"]["colour"]  # type: ignore[attr-defined]
    assert not list(validator.iter_errors(doc))


def test_project_schema_accepts_example_project_files() -> None:
    validator = jsonschema.Draft202012Validator(project_schema())
    for path in EXAMPLES.glob("*/modelplane.yaml"):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path


def test_init_scaffold_validates(tmp_path: Path) -> None:
    written = scaffold(tmp_path / "my-project")
    assert {p.name for p in written} >= {"modelplane.yaml", "data.yaml", "serving.yaml", ".gitignore"}
    # the state folder (caches, the local state, logs) is never committed by accident
    assert (tmp_path / "my-project" / ".gitignore").read_text().splitlines()[-1] == ".modelplane/"
    specs = load(tmp_path / "my-project", use_cache=False)
    assert ("endpoint", "my-project") in specs.nodes
    # its canary can decide: no step lacks the requests its window needs (synthetic ones on the local stack)
    from modelplane.compiler.compile import compile_graph

    assert not [w for w in compile_graph(tmp_path / "my-project", use_cache=False).warnings]


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    from modelplane.errors import ModelplaneError

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ModelplaneError, match="not empty"):
        scaffold(tmp_path / "x")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["keep.txt"]


def test_render_is_pure_and_names_the_project() -> None:
    files = render("acme")
    assert "name: acme" in files["modelplane.yaml"]
    assert "acme-model" in files["specs/model.yaml"]


def test_every_example_ignores_its_state_folder() -> None:
    """Copied out of this repository, an example still keeps `.modelplane/` out of git."""
    for project in EXAMPLES.glob("*/modelplane.yaml"):
        assert ".modelplane/" in (project.parent / ".gitignore").read_text().splitlines(), project.parent
