"""The GitHub Actions example is valid YAML and runs the plan command the CLI really has."""

from __future__ import annotations

import yaml

from tests.conftest import EXAMPLES


def test_github_actions_example_runs_plan_with_base() -> None:
    doc = yaml.safe_load((EXAMPLES / "ci" / "github-actions.yml").read_text())
    steps = doc["jobs"]["plan"]["steps"]
    run = next(s["run"] for s in steps if s.get("id") == "plan")
    for flag in ("modelplane plan", "--base", "--format markdown", "--detailed-exitcode"):
        assert flag in run
    assert steps[0]["with"]["fetch-depth"] == 0
    script = steps[-1]["with"]["script"]
    assert "updateComment" in script and "createComment" in script
