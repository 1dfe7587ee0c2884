"""Impact covers the whole downstream closure: every node below a change, with a category or a reason it is unaffected."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from modelplane.compiler.change.impact import rules_table
from modelplane.compiler.compile import make_plan
from tests.conftest import REPO, GitProject

sys.path.insert(0, str(REPO / "benchmarks"))
import gen_specs

Make = Callable[[str], GitProject]


def test_generated_platform_impact_recall_is_complete(tmp_path: Path) -> None:
    """Against the generator's own record of the edges it wrote: recall 100%, no extras."""
    root = tmp_path / "g1k"
    edges: list[tuple[str, str]] = []
    gen_specs.generate(root, 1000, 7, edges)
    repo = GitProject(root)
    repo.git("init", "-q", "-b", "main")
    repo.commit("base")
    gen_specs.change_upstream(root)
    repo.commit("change core-0")
    expected = set(gen_specs.downstream(edges, "dataset/core-0"))
    assert len(expected) > 100
    plan = make_plan(root, "prod", base_ref="HEAD~1", use_cache=False).plan
    got = {i.id for i in plan.impact}
    assert got - expected == set(), "impact lists nodes that are not downstream"
    assert expected - got == set(), "impact misses downstream nodes"
    # the evaluations of models made stale by the change re-run, after the retrain
    evals = [i for i in plan.impact if i.id.startswith("evaluation/")]
    assert evals and all(i.category == "re-evaluate-required" for i in evals)
    actions = {a.id: a for a in plan.actions}
    some = actions[f"evaluate:{evals[0].id}"]
    assert any(d.startswith("run-workflow:") for d in some.depends_on)


def test_a_feature_that_reads_none_of_the_changed_columns_is_listed_unaffected(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    text = (gp.root / "specs/data/raw.yaml").read_text()
    assert "name: timezone" not in text
    gp.edit(
        "specs/data/raw.yaml",
        "      - {name: country",
        "      - {name: timezone, type: string}\n      - {name: country",
    )
    gp.commit("add a column nobody reads yet")
    plan = make_plan(gp.root, "prod", base_ref="HEAD~1", use_cache=False).plan
    by_id = {i.id: i for i in plan.impact}
    feature = by_id["feature/user-writing-profile"]
    assert feature.category == "unaffected"
    assert feature.reasons[-1].startswith("feature/user-writing-profile reads only `country`")
    # nothing unaffected creates an action or notifies its owner
    assert not any(a.target == "feature/user-writing-profile" for a in plan.actions)


def test_a_metadata_only_change_starts_no_closure(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/ml/models.yaml", "description: Sentence-level tone detection.", "description: Tone detection.")
    gp.commit("describe")
    plan = make_plan(gp.root, "prod", base_ref="HEAD~1", use_cache=False).plan
    assert plan.impact == []


def test_the_plans_page_shows_the_propagation_rules_as_the_code_has_them() -> None:
    # the table moved with the manual from the README to docs/plans.md (issue 33); the README links it
    assert rules_table() in (REPO / "docs" / "plans.md").read_text()
    assert "docs/plans.md" in (REPO / "README.md").read_text()


def test_impact_json_lists_unaffected_with_reasons(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit(
        "specs/data/raw.yaml",
        "      - {name: country",
        "      - {name: timezone, type: string}\n      - {name: country",
    )
    gp.commit("add a column")
    out = subprocess.run(
        [sys.executable, "-m", "modelplane", "plan", "--env", "prod", "--base", "HEAD~1", "--format", "json"],
        cwd=gp.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    impact = {i["id"]: i for i in json.loads(out.stdout)["impact"]}
    assert impact["feature/user-writing-profile"]["category"] == "unaffected"
    assert impact["feature/user-writing-profile"]["reasons"]


def test_references_read_from_the_model_equal_those_read_from_the_document(tmp_path: Path) -> None:
    """A cold compile takes references from the validated models (documents stay JSON until read);
    a warm one from the cached documents: both give the same references in the same order."""
    from modelplane.compiler.compile import check_specs
    from modelplane.specs.kinds import KIND_MODELS
    from modelplane.specs.refs import find_refs, find_refs_in_model, reference_paths
    from tests.conftest import EXAMPLES

    root = tmp_path / "g300"
    gen_specs.generate(root, 300, 3, [])
    compared = 0
    for project in (root, EXAMPLES / "quickstart", EXAMPLES / "assistant-platform"):
        for node in check_specs(project, use_cache=False).specs.nodes.values():
            from_data = find_refs(node.data, reference_paths(KIND_MODELS[node.kind]))
            assert find_refs_in_model(node.model) == from_data, node.id
            compared += bool(from_data)
    assert compared > 200
