"""`modelplane validate`, `schema` and `init` through the real CLI: output, JSON shape, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from modelplane.cli import app
from tests.conftest import EXAMPLES

runner = CliRunner()


def test_validate_ok_text_and_json() -> None:
    result = runner.invoke(app, ["validate", "-C", str(EXAMPLES / "quickstart"), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("✓ 8 specs valid in 3 files (env dev): 2 datasets, 1 workflow, 1 model")
    result = runner.invoke(app, ["validate", "-C", str(EXAMPLES / "quickstart"), "--format", "json", "--no-cache"])
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["ok"] is True and payload["errors"] == [] and payload["nodes"] == 8


def test_validate_errors_exit_1_with_json_locations(make_project: Callable[..., Path]) -> None:
    root = make_project({"specs/a.yaml": "apiVersion: modelplane/v1\nkind: Modle\nmetadata: {name: m, owner: t}\n"})
    result = runner.invoke(app, ["validate", "-C", str(root), "--format", "json"])
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["ok"] is False
    assert payload["errors"] == [
        {
            "file": "specs/a.yaml",
            "line": 2,
            "column": 7,
            "code": "unknown-kind",
            "severity": "error",
            "message": "unknown kind `Modle`",
            "hint": "did you mean `Model`?",
            "related": [],
            "snippet": "kind: Modle",  # the one form carries the line and caret width the text output shows
            "width": 5,
        }
    ]


def test_validate_text_error_shows_snippet_and_caret(make_project: Callable[..., Path]) -> None:
    root = make_project({"specs/a.yaml": "apiVersion: modelplane/v1\nkind: Modle\nmetadata: {name: m, owner: t}\n"})
    result = runner.invoke(app, ["validate", "-C", str(root)])
    assert result.exit_code == 1
    assert "error[unknown-kind]: unknown kind `Modle`" in result.output
    assert "--> specs/a.yaml:2:7" in result.output
    assert "2 | kind: Modle\n  |       ^^^^^" in result.output
    assert "= hint: did you mean `Model`?" in result.output
    assert "Traceback" not in result.output


def test_warm_validate_sees_a_changed_file(make_project: Callable[..., Path]) -> None:
    root = make_project({"specs/a.yaml": (EXAMPLES / "quickstart/specs/data.yaml").read_text()})
    first = runner.invoke(app, ["validate", "-C", str(root)])
    assert first.exit_code == 0
    again = runner.invoke(app, ["validate", "-C", str(root)])
    assert again.output == first.output
    path = root / "specs/a.yaml"
    path.write_text(path.read_text().replace("format: jsonl", "format: jsonnl"))
    broken = runner.invoke(app, ["validate", "-C", str(root)])
    assert broken.exit_code == 1
    assert "did you mean `jsonl`?" in broken.output


def test_missing_project_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "-C", str(tmp_path)])
    assert result.exit_code == 1
    assert "no modelplane.yaml found" in result.output
    assert "modelplane init" in result.output


def test_schema_command_outputs_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["discriminator"]["propertyName"] == "kind"
    result = runner.invoke(app, ["schema", "--kind", "Endpoit"])
    assert result.exit_code == 1
    assert "did you mean `Endpoint`?" in result.output


def test_init_then_validate(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", "-C", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output


TWO_ENVS = (
    "name: demo\nspecs: ['specs/**/*.yaml']\ndefault_environment: dev\nenvironments:\n"
    "  dev:\n    variables: {stack: local, freshness: 1d}\n  prod:\n    variables: {stack: prod-gpu}\n"
)
DATASET = """\
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: events, owner: team-data}
spec:
  uri: s3://bucket/events
  format: parquet
  freshness: ${var.freshness}
  schema: {columns: [{name: id, type: string}]}
"""


def test_an_error_only_in_a_non_default_environment_fails_a_plain_validate(
    make_project: Callable[..., Path],
) -> None:
    root = make_project({"specs/a.yaml": DATASET}, project=TWO_ENVS)
    assert runner.invoke(app, ["validate", "-C", str(root), "--env", "dev"]).exit_code == 0  # dev alone passes
    result = runner.invoke(app, ["validate", "-C", str(root)])
    assert result.exit_code == 1, result.output
    assert "--> specs/a.yaml:7" in result.output and "= in environment: prod" in result.output
    payload = json.loads(runner.invoke(app, ["validate", "-C", str(root), "--format", "json"]).output)
    assert payload["ok"] is False and [e["environments"] for e in payload["errors"]] == [["prod"]]


def test_an_error_in_every_environment_is_reported_once_with_all_of_them(make_project: Callable[..., Path]) -> None:
    root = make_project({"specs/a.yaml": DATASET.replace("parquet", "parkett")}, project=TWO_ENVS)
    payload = json.loads(runner.invoke(app, ["validate", "-C", str(root), "--format", "json"]).output)
    shared = [e for e in payload["errors"] if e["line"] == 6]
    assert len(shared) == 1 and shared[0]["environments"] == ["dev", "prod"], payload
    ok = make_project({"specs/a.yaml": DATASET.replace("${var.freshness}", "1d")}, project=TWO_ENVS)
    result = runner.invoke(app, ["validate", "-C", str(ok)])
    assert result.exit_code == 0 and "✓ 1 spec valid in env prod" in result.output, result.output
