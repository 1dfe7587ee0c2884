"""The programmatic API: ``Workspace`` gives a script what the CLI shows, because the CLI calls it."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.errors import ModelplaneError, SpecError
from modelplane.workspace import Workspace
from tests.conftest import EXAMPLES, GitProject
from tests.extras import needs_aws

runner = CliRunner()


def test_validate_counts_what_the_cli_prints() -> None:
    ws = Workspace.find(EXAMPLES / "assistant-platform" / "specs", use_cache=False)  # found from a subfolder
    assert ws.root == EXAMPLES / "assistant-platform"
    found = ws.validate()
    shown = runner.invoke(app, ["validate", "-C", str(ws.root), "--format", "json", "--no-cache"])
    doc = json.loads(shown.output)
    assert (found.environment, found.nodes, found.files, found.kinds) == (
        doc["environment"],
        doc["nodes"],
        doc["files"],
        doc["kinds"],
    )
    assert found.kinds["Endpoint"] == 5 and found.warnings == []


def test_invalid_specs_raise_the_errors_validate_prints(make_project: Callable[..., object]) -> None:
    root = make_project({"specs/a.yaml": "apiVersion: modelplane/v1\nkind: Dataset\nmetadata: {name: a}\n"})
    with pytest.raises(SpecError) as err:
        Workspace(root).validate()  # type: ignore[arg-type]
    assert err.value.diagnostics and err.value.diagnostics[0].location.file == "specs/a.yaml"


def test_plan_and_save_are_what_plan_out_writes(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    ws = Workspace(gp.root)
    result = ws.plan("HEAD~1")
    assert [a.id for a in result.plan.actions][:2] == [
        "register:model/tiny-chat",
        "evaluate:evaluation/tiny-chat-quality",
    ]
    saved = ws.save_plan(result, gp.root / "api.json")
    cli = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD~1", "--out", str(gp.root / "cli.json")])
    assert cli.exit_code == 0, cli.output
    assert f"saved plan {saved.id}" in cli.output  # the same executable plan, the same content id
    assert json.loads((gp.root / "api.json").read_text()) == json.loads((gp.root / "cli.json").read_text())
    assert not (gp.root / "api.json.tmp").exists()


def test_graph_selection_and_impact() -> None:
    ws = Workspace(EXAMPLES / "assistant-platform", "prod")
    picked = ws.graph("dataset/user-events-raw+")
    assert picked.nodes is not None and len(picked.nodes) == 8
    assert ws.graph().nodes is None
    impact = ws.impact("dataset/user-events-raw")
    assert [str(n) for n in impact.changed] == ["dataset/user-events-raw"] and len(impact.affected) == 7
    assert impact.to_json()["changed"] == ["dataset/user-events-raw"] and len(impact.to_json()["impact"]) == 7


@needs_aws
def test_stack_preview_and_its_errors() -> None:
    ws = Workspace(EXAMPLES / "assistant-platform", "prod")
    shown = ws.stack_preview("stack/prod-gpu")
    assert shown.name == "prod-gpu" and shown.spec["provider"] == "aws-eks"
    assert any(r.type == "aws:iam/role:Role" for r in shown.rows)
    with pytest.raises(ModelplaneError, match="no stack named `gpu-prod`") as err:
        ws.stack_preview("gpu-prod")
    assert "prod-gpu" in (err.value.diagnostics[0].hint or "")
    with pytest.raises(ModelplaneError, match="is a local stack"):
        ws.stack_preview("local")


@needs_aws
def test_stack_preview_after_asyncio_run_in_the_same_process() -> None:
    """After asyncio.run() a thread has no current event loop; Pulumi's mocks need one. CI once ran this
    file after such a test in the same worker, and the preview failed with 'no current event loop'."""
    asyncio.run(asyncio.sleep(0))
    ws = Workspace(EXAMPLES / "assistant-platform", "prod")
    assert any(r.type == "aws:iam/role:Role" for r in ws.stack_preview("stack/prod-gpu").rows)
    with pytest.raises(RuntimeError, match="no current event loop"):
        asyncio.get_event_loop_policy().get_event_loop()  # the caller's state (no loop) is put back


def test_reading_state_never_creates_it() -> None:
    ws = Workspace(EXAMPLES / "quickstart")
    assert ws.applied_state() is None  # before the first apply: plan compares with nothing
    assert not (ws.root / ws.settings.state.path).exists()


def test_down_forgets_what_ran_on_the_local_stack_and_nothing_else(tmp_path: Path) -> None:
    root = tmp_path / "qs"
    shutil.copytree(EXAMPLES / "quickstart", root)
    ws = Workspace(root)
    env = ws.settings.environment
    first = ws.state_summary()
    assert (first.environment, first.applied.serial, first.last, first.outputs) == (env, 0, None, {})
    local = {"spec": {"provider": "local"}}
    ws.store().record(
        env,
        "a1",
        upserts=[
            ("stack/local", "Stack", "specs/stack.yaml", 0, local),
            ("endpoint/chat", "Endpoint", "specs/endpoint.yaml", 0, {"spec": {"stack": "local"}}),
            ("model/tiny", "Model", "specs/model.yaml", 0, {"spec": {}}),
        ],
    )
    done = ws.down(keep_server=True)
    assert done.stopped == {} and sorted(done.forgotten) == ["endpoint/chat", "stack/local"]
    assert not done.worker_stopped and not done.server_stopped
    assert set(ws.state_summary().applied.nodes) == {"model/tiny"}  # the model stays registered
