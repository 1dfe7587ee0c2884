"""Golden files for the plan reports (text, markdown, json) on the assistant platform.

Regenerate with `pytest tests/compiler/test_reports_golden.py --update-goldens`, then review the diff.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.compiler.compile import PlanResult, make_plan
from modelplane.compiler.report.markdown import render as render_markdown
from modelplane.compiler.report.text import render as render_text
from tests.conftest import REPO, GitProject

GOLDEN = REPO / "tests" / "golden"


@pytest.fixture
def scenario(git_example: Callable[[str], GitProject]) -> PlanResult:
    """A realistic PR: new model version, an added column upstream, a tighter SLO and a metadata edit."""
    gp = git_example("assistant-platform")
    gp.edit("specs/ml/models.yaml", 'version: "3.2.0"', 'version: "3.3.0"')
    gp.edit(
        "specs/data/raw.yaml",
        "      - {name: country, type: string}\n",
        "      - {name: country, type: string}\n      - {name: timezone, type: string}\n",
    )
    gp.edit("specs/serving/endpoints.yaml", "p99_latency_ms: 300", "p99_latency_ms: 250")
    gp.edit("specs/services.yaml", "description: Add-on for shared document editors.", "description: Docs add-on.")
    gp.commit("grammar-llm 3.3.0 and friends")
    return make_plan(gp.root, "prod", base_ref="HEAD~1", use_cache=False)


def check_golden(name: str, actual: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(actual)
    assert path.exists(), f"missing golden {path}; run with --update-goldens"
    assert actual == path.read_text(), f"{name} differs from its golden file; run with --update-goldens and review"


def test_text_report(scenario: PlanResult, update_goldens: bool) -> None:
    check_golden("plan-assistant.txt", render_text(scenario.plan), update_goldens)


def test_markdown_report(scenario: PlanResult, update_goldens: bool) -> None:
    md = render_markdown(scenario.plan, scenario.head.graph, scenario.base)
    check_golden("plan-assistant.md", md, update_goldens)


def test_json_report(scenario: PlanResult, update_goldens: bool) -> None:
    text = json.dumps(scenario.plan.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    check_golden("plan-assistant.json", text, update_goldens)


def test_markdown_stays_readable_for_a_thousand_node_change(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "big"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks/gen_specs.py"), "--nodes", "1200", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    result = make_plan(out, use_cache=False)  # against empty state: every node is created
    assert len(result.plan.changes) > 1000
    md = render_markdown(result.plan, result.head.graph)
    assert "… and " in md and "more |" in md
    assert "_Showing 60 of" in md
    assert len(md) < 60_000  # GitHub comments stop at 65,536 characters


def test_a_two_thousand_node_change_fits_a_github_comment(tmp_path: Path, update_goldens: bool) -> None:
    """Every node of a generated 2,000-node platform created: the report stays under 60,000 characters
    and points at the saved plan instead of inlining it."""
    import subprocess
    import sys

    out = tmp_path / "big"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks/gen_specs.py"), "--nodes", "2000", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    result = make_plan(out, use_cache=False)
    assert len(result.plan.changes) > 1990  # the generator rounds to whole domains
    md = render_markdown(result.plan, result.head.graph, artifact="plan.json")
    assert len(md) < 60_000
    assert "does not fit in a comment: it is in `plan.json`" in md
    check_golden("plan-2000-nodes.md", md, update_goldens)
    # without a saved plan the line says how to get one
    assert "modelplane plan --out plan.json" in render_markdown(result.plan, result.head.graph)


def test_capacity_and_cost_deltas_in_the_pr_report(
    git_example: Callable[[str], GitProject], update_goldens: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More grammar traffic: the report shows replicas, GPUs and $/month before and after, with each price's
    source and date (the price-age note is measured at a fixed day, so the golden does not age)."""
    monkeypatch.setenv("MODELPLANE_TODAY", "2026-12-06")
    gp = git_example("assistant-platform")
    gp.edit("modelplane.yaml", "grammar_qps: 200000", "grammar_qps: 205000")
    gp.edit("modelplane.yaml", "grammar_max_replicas: 360", "grammar_max_replicas: 370")
    gp.commit("more grammar traffic")
    result = make_plan(gp.root, "prod", base_ref="HEAD~1", use_cache=False)
    md = render_markdown(result.plan, result.head.graph, result.base)
    assert "### Capacity and cost" in md and "(SkyPilot catalog v8 aws/vms.csv, 2026-12-06)" in md
    check_golden("plan-capacity.md", md, update_goldens)
    check_golden("plan-capacity.txt", render_text(result.plan), update_goldens)
