"""`plan`, `graph` and `impact` through the CLI: formats, --out, --detailed-exitcode, errors."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import CliRunner

from modelplane.cli import app
from tests.conftest import EXAMPLES, GitProject

runner = CliRunner()


def test_plan_detailed_exitcode_and_out(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    same = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD", "--detailed-exitcode"])
    assert same.exit_code == 0, same.output
    assert "No changes." in same.output
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    out = gp.root / "plan.json"
    res = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD~1", "--detailed-exitcode", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Plan: 0 to create, 1 to update, 0 to replace, 0 to delete; ")
    saved = json.loads(out.read_text())
    assert saved["format_version"] == 2 and saved["base"]["kind"] == "git"
    # a plan against a git ref is for review: the save line does not tell you to apply it (apply refuses it)
    assert "against git ref `HEAD~1`: for review" in res.output and "apply it with" not in res.output
    assert [a["id"] for a in saved["actions"]][:2] == [
        "register:model/tiny-chat",
        "evaluate:evaluation/tiny-chat-quality",
    ]


def test_plan_formats(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    as_json = runner.invoke(app, ["plan", "-C", str(gp.root), "--format", "json"])
    assert as_json.exit_code == 0
    payload = json.loads(as_json.output)
    assert {"changes", "impact", "actions", "summary"} <= payload.keys()
    assert payload["summary"]["changes"] == {"create": 8}
    assert all({"id", "change", "effect", "fields"} <= c.keys() for c in payload["changes"])
    assert all({"id", "type", "target", "depends_on"} <= a.keys() for a in payload["actions"])
    md = runner.invoke(app, ["plan", "-C", str(gp.root), "--format", "markdown"])
    assert md.exit_code == 0 and md.output.startswith("## modelplane plan · `dev`")
    assert "```mermaid" in md.output


def test_breaking_plan_exits_1_and_is_not_saved(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/data/raw.yaml", "      - {name: plan, type: string}\n", "")
    gp.commit("drop plan column")
    out = gp.root / "p.json"
    res = runner.invoke(app, ["plan", "-C", str(gp.root), "-e", "prod", "--base", "HEAD~1", "--out", str(out)])
    assert res.exit_code == 1
    assert (
        "error[breaking-change]: feature/user-writing-profile reads column `plan` of dataset/user-profiles"
        in res.output
    )
    assert "--> specs/data/features.yaml:" in res.output
    assert not out.exists()
    ok = runner.invoke(
        app, ["plan", "-C", str(gp.root), "-e", "prod", "--base", "HEAD~1", "--allow-breaking", "--out", str(out)]
    )
    assert ok.exit_code == 0 and out.exists()


def test_bad_base_ref_is_a_clear_error(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    res = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "no-such-branch"])
    assert res.exit_code == 1
    assert "no such commit, branch or tag" in res.output
    assert "Traceback" not in res.output


def test_graph_formats() -> None:
    root = str(EXAMPLES / "quickstart")
    text = runner.invoke(app, ["graph", "-C", root])
    assert text.exit_code == 0 and text.output.startswith("8 nodes, ")
    mermaid = runner.invoke(app, ["graph", "-C", root, "-f", "mermaid", "-s", "model/tiny-chat+"])
    assert mermaid.output.startswith("graph LR\n")
    assert "model_tiny_chat -->|is served by| endpoint_tiny_chat" in mermaid.output
    dot = runner.invoke(app, ["graph", "-C", root, "-f", "dot"])
    assert dot.output.startswith("digraph lineage {")
    data = json.loads(runner.invoke(app, ["graph", "-C", root, "-f", "json"]).output)
    assert len(data["nodes"]) == 8 and {"source", "target", "kind"} == set(data["edges"][0])


def test_impact_command() -> None:
    res = runner.invoke(app, ["impact", "dataset/support-tickets", "-C", str(EXAMPLES / "quickstart"), "-f", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    cats = {i["id"]: i["category"] for i in data["impact"]}
    assert cats == {
        "dataset/support-pairs": "notify",
        "endpoint/tiny-chat": "rollout-required",  # the workflow re-runs: its artifact rolls out as a canary
        "evaluation/tiny-chat-quality": "re-evaluate-required",
        "model/tiny-chat": "retrain-required",
        "service/support-bot": "notify",
        "workflow/finetune-tiny-chat": "retrain-required",
    }


def test_plan_base_is_memoized_and_a_changed_spec_misses(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    args = ["plan", "-C", str(gp.root), "--base", "HEAD~1", "--detailed-exitcode"]
    first = runner.invoke(app, args)
    memo = sorted((gp.root / ".modelplane" / "cache" / "plans").glob("*.json"))
    assert len(memo) == 1
    again = runner.invoke(app, args)
    assert (again.exit_code, again.output) == (first.exit_code, first.output) == (2, first.output)
    # the memo is what is shown: prove it by tampering (the key, not the output, decides a hit)
    stored = json.loads(memo[0].read_text())
    memo[0].write_text(json.dumps({**stored, "stdout": "from the memo\n"}))
    assert runner.invoke(app, args).output == "from the memo\n"
    gp.edit("specs/model.yaml", 'version: "1.1.0"', 'version: "1.2.0"')  # head changed: a new key
    fresh = runner.invoke(app, args)
    assert '"1.0.0" -> "1.2.0"' in fresh.output
    uncached = runner.invoke(app, [*args, "--no-cache"])
    assert uncached.output == fresh.output


def test_the_real_process_exits_with_the_plan_code_and_all_its_output(git_example: Callable[[str], GitProject]) -> None:
    """Compile commands end with os._exit (no teardown of the graph): output and codes must survive it."""
    import subprocess
    import sys

    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    args = ["plan", "-C", str(gp.root), "--base", "HEAD~1", "--detailed-exitcode", "--format", "json"]
    proc = subprocess.run([sys.executable, "-m", "modelplane", *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    in_process = runner.invoke(app, args)
    assert json.loads(proc.stdout) == json.loads(in_process.output)
    bad = subprocess.run(
        [sys.executable, "-m", "modelplane", "plan", "-C", str(gp.root), "--base", "no-such-ref"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: `--base no-such-ref`: no such commit, branch or tag")
