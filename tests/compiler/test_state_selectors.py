"""`state:modified` means the same in graph, impact and plan: against --base, or the applied state."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.compile import compile_graph
from modelplane.runtime.settings import settings_for, state_path
from modelplane.runtime.state.sqlite import StateStore
from tests.conftest import EXAMPLES, GIT_ENV

runner = CliRunner()


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    return root


def _apply_in_state(root: Path) -> None:
    """Record every node as applied (what a finished apply leaves), without running one."""
    graph = compile_graph(root, use_cache=False).graph
    s = settings_for(root, None)
    store = StateStore(state_path(s.root, s.state))
    store.record(
        s.environment, "apply-1", upserts=[(str(n.id), n.kind, n.file, n.index, n.data) for n in graph.nodes.values()]
    )


def _bump(root: Path) -> None:
    """Two changes: the dataset's version and the model's."""
    data = root / "specs" / "data.yaml"
    data.write_text(data.read_text().replace('version: "2026-11-01"', 'version: "2026-12-01"'))
    model = root / "specs" / "model.yaml"
    model.write_text(model.read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture
def applied_then_bumped(tmp_path: Path) -> Path:
    root = _copy(tmp_path)
    _apply_in_state(root)
    _bump(root)
    return root


def test_graph_selects_state_modified_against_the_applied_state(applied_then_bumped: Path) -> None:
    root = applied_then_bumped
    code, out = _run("graph", "-C", str(root), "--select", "state:modified", "--format", "json")
    assert code == 0, out
    assert sorted(n["id"] for n in json.loads(out)["nodes"]) == ["dataset/support-tickets", "model/tiny-chat"]
    code, out = _run("graph", "-C", str(root), "--select", "state:modified+", "--format", "json")
    assert code == 0, out
    assert {"model/tiny-chat", "endpoint/tiny-chat", "service/support-bot"} <= {
        n["id"] for n in json.loads(out)["nodes"]
    }
    code, out = _run("graph", "-C", str(root), "--select", "state:modified,kind:model", "--format", "json")
    assert code == 0, out
    assert [n["id"] for n in json.loads(out)["nodes"]] == ["model/tiny-chat"]


def test_impact_of_state_modified_uses_the_applied_state(applied_then_bumped: Path) -> None:
    code, out = _run("impact", "state:modified", "-C", str(applied_then_bumped), "--format", "json")
    assert code == 0, out
    result = json.loads(out)
    assert result["changed"] == ["dataset/support-tickets", "model/tiny-chat"]
    assert "endpoint/tiny-chat" in {i["id"] for i in result["impact"]}


def test_state_modified_with_nothing_to_compare_with_says_what_to_pass(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for cmd in (
        ["graph", "-C", str(root), "--select", "state:modified"],
        ["impact", "state:modified", "-C", str(root)],
    ):
        code, out = _run(*cmd)
        assert code == 1, out
        assert "`state:modified` needs something to compare with" in out
        assert "pass --base REF" in out


def test_graph_selects_state_modified_against_a_git_base(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    env = {**GIT_ENV, "PATH": __import__("os").environ["PATH"]}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *argv], cwd=root, env=env, check=True)
    _bump(root)
    code, out = _run("graph", "-C", str(root), "--select", "state:modified", "--base", "HEAD", "--format", "json")
    assert code == 0, out
    assert sorted(n["id"] for n in json.loads(out)["nodes"]) == ["dataset/support-tickets", "model/tiny-chat"]


def test_a_targeted_plan_plans_only_the_selected_changes(applied_then_bumped: Path) -> None:
    root = applied_then_bumped
    code, out = _run("plan", "-C", str(root), "--format", "json")
    assert code == 0, out
    assert {c["id"] for c in json.loads(out)["changes"]} == {"dataset/support-tickets", "model/tiny-chat"}
    code, out = _run("plan", "-C", str(root), "--select", "model/tiny-chat", "--format", "json")
    assert code == 0, out
    plan = json.loads(out)
    assert [c["id"] for c in plan["changes"]] == ["model/tiny-chat"]
    assert plan["target"] == "model/tiny-chat"
    assert "register:model/tiny-chat" in {a["id"] for a in plan["actions"]}
    assert not any(a["target"] == "dataset/support-tickets" for a in plan["actions"])
    code, out = _run("plan", "-C", str(root), "--select", "state:modified,kind:dataset")
    assert code == 0, out
    assert "targeted: state:modified,kind:dataset (other changes are left for a later plan)" in out
    assert "dataset/support-tickets" in out and "~ model/tiny-chat" not in out
