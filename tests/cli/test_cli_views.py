"""The CLI's views (modelplane/cli/views/) and the papercuts they fixed (issue 33, item 6), each with its test;
and the rule that command modules reach the project only through the Workspace."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.cli.views.history import history_text
from modelplane.cli.views.progress import verdict_line
from modelplane.cli.views.status import paused_lines, state_lines
from modelplane.compiler.report.words import plural
from modelplane.runtime.state.ports import HistoryEntry
from modelplane.runtime.temporal.messages import Gate, Progress
from tests.conftest import EXAMPLES, REPO, GitProject

runner = CliRunner()


def _copy(tmp_path: Path, name: str = "quickstart") -> Path:
    root = tmp_path / name
    shutil.copytree(EXAMPLES / name, root, ignore=shutil.ignore_patterns(".modelplane"))
    return root


# -- singular and plural: one helper ---------------------------------------------------------------


def test_counted_nouns_are_singular_for_one() -> None:
    assert [plural(1, "action"), plural(2, "action"), plural(0, "node")] == ["1 action", "2 actions", "0 nodes"]
    assert [plural(1, "process"), plural(3, "process"), plural(2, "replica"), plural(2, "entry")] == [
        "1 process",
        "3 processes",
        "2 replicas",
        "2 entries",
    ]
    out = runner.invoke(app, ["validate", "-C", str(EXAMPLES / "quickstart")]).output
    assert "1 workflow, 1 model, 1 evaluation" in out and "2 datasets" in out and "1 workflows" not in out
    one = runner.invoke(app, ["graph", "-C", str(EXAMPLES / "quickstart"), "-s", "service/support-bot"]).output
    assert one.startswith("1 node, 0 edges\n"), one


def test_no_command_hedges_with_s_in_parentheses() -> None:
    """Hedging with "(s)" was the old way around "1 actions": every counted noun goes through ``plural``."""
    hedged = [
        f"{path.relative_to(REPO)}:{n}"
        for path in sorted((REPO / "modelplane" / "cli").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "(s)" in line and not line.lstrip().startswith("#")
    ]
    assert not hedged, hedged


# -- verdicts: every figure once ---------------------------------------------------------------------


def test_a_verdict_states_each_figure_once() -> None:
    failed = {
        "step": 0,
        "weight": 20,
        "result": "fail",
        "gate": "errors",
        "reason": "3 errors in 40 requests (10 synthetic) (7.50%), over the 1.00% error budget",
        "canary": {"requests": 40, "real": 30, "synthetic": 10, "errors": 3, "p99_ms": 212.4},
    }
    line = verdict_line(failed)
    assert line.count("40 requests") == 1 and line.count("3 errors") == 1, line
    assert line.count("p99") == 1 and "p99 212 ms" in line, line  # the one figure the reason does not give
    passed = {
        "step": 1,
        "weight": 50,
        "result": "pass",
        "gate": "analysis",
        "reason": "p99 180 ms, 0 errors in 120 requests, need 30 requests",
        "canary": {"requests": 120, "errors": 0, "p99_ms": 180},
    }
    line = verdict_line(passed)
    assert line.count("120 requests") == 1 and line.count("0 errors") == 1 and line.count("p99 180") == 1, line
    assert "[" not in line  # nothing left to add
    ranked = {
        "result": "pass",
        "gate": "analysis",
        "reason": "not slower than stable: rank test of 22 canary vs 22 stable latencies",
        "canary": {"requests": 22, "real": 0, "synthetic": 22, "errors": 0, "p99_ms": 90},
    }
    # the real/synthetic split is kept: it says the verdict rests on traffic the rollout made itself
    assert "[22 requests: 0 real, 22 synthetic; 0 errors; p99 90 ms]" in verdict_line(ranked)
    bare = verdict_line({"result": "pass", "gate": "analysis", "reason": "not slower than stable", "canary": {}})
    assert bare == "last: pass (analysis) not slower than stable"


# -- output to a pipe is never wrapped -----------------------------------------------------------------


def test_redirected_output_keeps_long_lines_whole() -> None:
    words = " ".join(f"word{i:03d}" for i in range(40))  # 319 characters of words
    token = "x" * 300  # one 300-character token (a URL, a path)
    script = (
        "from modelplane.cli.views.console import make_console\n"
        f"c = make_console()\nc.print({words!r})\nc.print({token!r})\n"
        "make_console(stderr=True).print('e' * 300)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.splitlines() == [words, token]
    assert proc.stderr.splitlines() == ["e" * 300]


# -- graph edges read in the data's direction ----------------------------------------------------------


def test_many_warnings_of_one_code_are_counted_past_five_and_errors_never() -> None:
    """A plan of a large project without capacity profiles printed one block per endpoint (832, ~5,000 lines)."""
    from modelplane.cli.views.diagnostics import SHOWN_PER_WARNING, to_text
    from modelplane.errors import Diagnostic, Location

    def warn(i: int, code: str = "no-profile") -> Diagnostic:
        return Diagnostic(code, f"endpoint/e{i} has none", Location(f"f{i % 3}.yaml", 1, 1), severity="warning")

    found = [warn(i) for i in range(12)] + [warn(99, "gpu-headroom")]
    found += [Diagnostic("gpu-fit", f"model/m{i} does not fit", Location("m.yaml", i + 1, 1)) for i in range(7)]
    text = to_text(found, shown_per_warning=SHOWN_PER_WARNING)
    assert [f"endpoint/e{i} has none" in text for i in range(12)] == [True] * 5 + [False] * 7
    assert "warning[no-profile]: 7 more warnings like these in 3 files, not shown" in text
    assert "`modelplane validate --format json` lists every warning" in text
    assert "endpoint/e99 has none" in text and "gpu-headroom]: " not in text.split("e99")[1]  # one of its code
    assert all(f"model/m{i} does not fit" in text for i in range(7))  # errors: every one
    assert text.rstrip().endswith("7 errors and 13 warnings in 4 files")  # the summary counts them all
    assert "more warnings" not in to_text(found)  # without a cap (the default) every one is written


def test_graph_edge_labels_read_in_the_direction_data_flows() -> None:
    root = str(EXAMPLES / "quickstart")
    text = runner.invoke(app, ["graph", "-C", root]).output
    block = text.split("dataset/support-pairs  (team-data)\n")[1].split("\n\n")[0]
    assert "  └─ trains → model/tiny-chat" in block and "trained_on" not in text
    assert "model/tiny-chat  (team-ml)\n  └─ is served by → endpoint/tiny-chat" in text
    assert "endpoint/tiny-chat  (team-serving)\n  └─ is consumed by → service/support-bot" in text
    mermaid = runner.invoke(app, ["graph", "-C", root, "-f", "mermaid"]).output
    assert "dataset_support_pairs -->|trains| model_tiny_chat" in mermaid
    dot = runner.invoke(app, ["graph", "-C", root, "-f", "dot"]).output
    assert '"dataset/support-pairs" -> "model/tiny-chat" [label="trains"];' in dot
    edges = json.loads(runner.invoke(app, ["graph", "-C", root, "-f", "json"]).output)["edges"]
    assert {"source": "dataset/support-pairs", "target": "model/tiny-chat", "kind": "trained_on"} in edges  # tools


# -- history and status -------------------------------------------------------------------------------


def test_history_text_names_each_applys_plan() -> None:
    row = HistoryEntry(
        "a-0007", "dev", "3025d9b2aa0c41e5f7de", "wf", "me@host", 1_700_000_000.0, 1_700_000_012.5, "succeeded", {}, {}
    )
    text = history_text([row], "demo/dev")
    assert "a-0007  plan 3025d9b2aa0c41e5f7de  succeeded" in text, text


def test_status_shows_outputs_as_key_value_lines() -> None:
    outputs = {
        "stack/prod-gpu": {"cluster": "gpu-prod", "endpoints": {"chat": "http://10.0.0.7:8000"}, "zones": ["a", "b"]}
    }
    summary: Any = SimpleNamespace(
        environment="prod", applied=SimpleNamespace(serial=4, nodes={"x": 1}, pending={}), outputs=outputs, last=None
    )
    lines = [line for line, _ in state_lines(summary, "demo")]
    assert lines[0] == "demo/prod: no apply running; state serial 4, 1 node applied"
    assert lines[1:] == [
        "  stack/prod-gpu outputs:",
        "    cluster: gpu-prod",
        "    endpoints.chat: http://10.0.0.7:8000",
        "    zones: a, b",
    ]
    assert not any("{" in line for line in lines)


def test_status_says_an_apply_is_paused_and_what_lets_it_go_on() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    p = Progress(
        apply_id="a-0003", plan_id="p", environment="prod", state="paused", started_at=at, actions={}, order=[]
    )
    (line,) = paused_lines(p)
    assert line.startswith("apply a-0003 is paused") and "`modelplane resume --env prod`" in line
    gated = p.model_copy(
        update={"state": "running", "gates": [Gate(target="endpoint/chat", step=1, since=at, reason="pause: manual")]}
    )
    (line,) = paused_lines(gated)
    assert "apply a-0003 is paused at the manual gate of endpoint/chat step 2 (pause: manual)" in line
    assert "`modelplane approve endpoint/chat --env prod`" in line
    assert paused_lines(gated.model_copy(update={"gates": []})) == []


# -- plan: its id, and the approvals the environment requires -----------------------------------------


def test_plan_prints_its_id_and_the_approvals_the_environment_requires(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    project = root / "modelplane.yaml"
    project.write_text(
        project.read_text().replace(
            "  dev:\n", "  dev:\n    approvals: {require: [non-breaking], approvers: {team-ml: [alice]}}\n", 1
        )
    )
    res = runner.invoke(app, ["plan", "-C", str(root), "--out", str(root / "p.json")])
    assert res.exit_code == 0, res.output
    saved = json.loads((root / "p.json").read_text())
    plan_id = res.output.split("Plan id: ")[1].split()[0]
    assert f"saved plan {plan_id} to" in res.output  # the id shown is the one saved, sealed and approved
    assert saved["execution"]["approvals"]["require"] == ["non-breaking"]
    approvals = res.output.split("Approvals: ")[1]
    assert approvals.startswith("dev requires owners team-data, team-ml, team-platform, team-serving")
    assert f"`modelplane approve --plan {plan_id} --owner OWNER --env dev`" in approvals
    assert "  team-ml: non-breaking: evaluation/tiny-chat-quality, non-breaking: model/tiny-chat" in approvals

    plain = runner.invoke(app, ["plan", "-C", str(_copy(tmp_path / "b"))]).output
    assert "Plan id: " in plain and "Approvals:" not in plain  # no policy, nothing to approve


def test_a_review_plan_names_the_approvals_but_no_id(git_example: Callable[[str], GitProject]) -> None:
    """A plan against a git ref is never approved nor applied itself: no id, but who will have to approve."""
    gp = git_example("quickstart")
    gp.edit("modelplane.yaml", "  dev:\n", "  dev:\n    approvals: {require: [re-evaluate-required]}\n")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0 under a policy")
    res = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD~1"])
    assert res.exit_code == 0, res.output
    assert "Plan id:" not in res.output
    assert "Approvals: dev requires owners team-ml to approve before apply: `modelplane plan --env dev`" in res.output
    assert "  team-ml: re-evaluate-required: evaluation/tiny-chat-quality" in res.output
    md = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD~1", "-f", "markdown"]).output
    assert "\nApprovals: dev requires owners team-ml" in md
    as_json = json.loads(runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD~1", "-f", "json"]).output)
    assert "changes" in as_json  # the plan document alone: notes are for readers


# -- --format json on every command that lacked it ------------------------------------------------------


def test_down_approve_and_stack_preview_speak_json(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    down = runner.invoke(app, ["down", "-C", str(root), "--keep-server", "--format", "json"])
    assert down.exit_code == 0, down.output
    assert json.loads(down.output) == {
        "environment": "dev",
        "stopped": {},
        "forgotten": [],
        "worker_stopped": False,
        "server_stopped": False,
    }
    # an error is one JSON document too, on stdout, exit 1
    approve = runner.invoke(app, ["approve", "-C", str(root), "--plan", "0" * 20, "--format", "json"])
    assert approve.exit_code == 1
    doc = json.loads(approve.stdout)
    assert doc["ok"] is False and "needs both --plan and --owner" in doc["errors"][0]["message"]

    preview = runner.invoke(
        app, ["stack", "preview", "prod-gpu", "-e", "prod", "-C", str(EXAMPLES / "assistant-platform"), "-f", "json"]
    )
    assert preview.exit_code == 0, preview.output
    doc = json.loads(preview.stdout)
    assert doc["stack"] == "stack/prod-gpu" and doc["environment"] == "prod"
    assert len(doc["resources"]) > 10 and {"type", "name", "summary"} == set(doc["resources"][0])
    text = runner.invoke(
        app, ["stack", "preview", "prod-gpu", "-e", "prod", "-C", str(EXAMPLES / "assistant-platform")]
    )
    assert f": {len(doc['resources'])} resources\n" in text.stdout


def test_history_speaks_json(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    res = runner.invoke(app, ["history", "-C", str(root), "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.output) == []


# -- the commands reach the project through the Workspace ----------------------------------------------

OUTWARD = ("modelplane.runtime", "modelplane.compiler", "modelplane.stacks", "modelplane.specs", "temporalio")


def _runtime_imports(path: Path) -> list[str]:
    """Imports of ``OUTWARD`` modules that run (those under ``if TYPE_CHECKING:`` are annotations only)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            typing_only |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [f"{path.name}:{node.lineno} {n}" for n in names if n.startswith(OUTWARD)]  # type: ignore[attr-defined]
    return found


def test_commands_reach_the_project_only_through_the_workspace() -> None:
    """Command modules (modelplane/cli/*.py) call the Workspace; the views (cli/views/) render what it returns."""
    commands = sorted((REPO / "modelplane" / "cli").glob("*.py"))
    assert len(commands) >= 10
    wrong = [hit for path in commands for hit in _runtime_imports(path)]
    assert not wrong, wrong


@pytest.mark.parametrize(
    "command", ["validate", "graph", "impact", "plan", "history", "show", "load", "down", "approve"]
)
def test_no_command_branches_on_the_format_itself(command: str) -> None:
    """Choosing what a format looks like is a view's job: a command passes ``fmt`` on."""
    import inspect

    from modelplane.cli import COMMANDS

    fn = next(c for c in COMMANDS if c.__name__ == command)
    source = inspect.getsource(fn)
    assert "fmt ==" not in source and "fmt !=" not in source, command
