"""Plan scenarios on the assistant platform, each a real git history compared with `--base HEAD~1`."""

from __future__ import annotations

from collections.abc import Callable

import jsonschema
import pytest

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.model import plan_schema
from modelplane.compiler.plan.payloads import NotifyDetails
from modelplane.errors import SpecError
from tests.conftest import EXAMPLES, GitProject

Make = Callable[[str], GitProject]
PROD = "prod"


def test_removed_column_that_a_feature_reads_is_broken(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit(
        "specs/data/raw.yaml",
        "      - {name: language, type: string}\n      - {name: created_at",
        "      - {name: created_at",
    )
    gp.commit("drop language from grammar-edits-raw")
    result = make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False)
    [err] = result.errors
    assert err.code == "breaking-change"
    assert err.location is not None and err.location.file == "specs/data/features.yaml"
    assert (err.location.line, err.location.column) == (48, 17)  # below the examples' schema modeline
    assert err.related[0][0] == "dataset/grammar-edits-raw columns (specs/data/raw.yaml)"
    assert err.related[0][1].file == "specs/data/raw.yaml"
    broken = {i.id: i for i in result.plan.impact if i.category == "broken"}
    assert list(broken) == ["feature/edit-language-mix"]
    assert broken["feature/edit-language-mix"].broken_columns == ["language"]
    change = next(c for c in result.plan.changes if c.id == "dataset/grammar-edits-raw")
    assert change.effect == "breaking" and change.breaking_reasons == ["removed column `language`"]
    # acknowledged: the same plan goes through with the breakage as a warning
    ok = make_plan(gp.root, PROD, base_ref="HEAD~1", allow_breaking=True, use_cache=False)
    assert ok.errors == [] and ok.plan.diagnostics[0].severity == "warning"


def test_model_version_bump_reevaluates_and_rolls_out(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/ml/models.yaml", 'version: "3.2.0"', 'version: "3.3.0"')
    gp.commit("grammar-llm 3.3.0")
    plan = make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False).plan
    assert [(c.id, c.change, c.effect) for c in plan.changes] == [("model/grammar-llm", "update", "non-breaking")]
    by_cat: dict[str, list[str]] = {}
    for i in plan.impact:
        by_cat.setdefault(i.category, []).append(i.id)
    assert by_cat["re-evaluate-required"] == [
        "evaluation/grammar-llm-gold",
        "evaluation/grammar-llm-holdout",
        "evaluation/grammar-llm-safety",
        # grammar-small is distilled from grammar-llm: stale, so its evaluations re-run after the re-distillation
        "evaluation/grammar-small-gold",
        "evaluation/grammar-small-safety",
    ]
    # grammar-small's re-distillation runs in this apply: its endpoint rolls out the artifact it makes
    assert by_cat["rollout-required"] == [
        "endpoint/grammar-prod",
        "endpoint/grammar-small-prod",
        "endpoint/grammar-staging",
    ]
    actions = {a.id: a for a in plan.actions}
    assert "run-workflow:workflow/distill-grammar-small" in actions["evaluate:evaluation/grammar-small-gold"].depends_on
    rollout = actions["rollout:endpoint/grammar-prod"]
    # blocking evaluations gate the rollout; the non-blocking holdout does not
    assert "evaluate:evaluation/grammar-llm-gold" in rollout.depends_on
    assert "evaluate:evaluation/grammar-llm-safety" in rollout.depends_on
    assert "evaluate:evaluation/grammar-llm-holdout" not in rollout.depends_on
    tier0 = [o for o in plan.owners_to_notify if o.most_critical_tier == 0]
    assert {s for o in tier0 for s in o.services} >= {
        "service/editor-inline-suggestions",
        "service/browser-extension",
    }
    assert "notify:owner/team-editor" in actions
    reasons = next(i for i in plan.impact if i.id == "service/browser-extension").reasons
    assert reasons == [
        "model/grammar-llm version 3.2.0 -> 3.3.0",
        "endpoint/grammar-prod rolls out the new version",
        "service/browser-extension (tier 0) consumes it",
    ]


def test_metadata_only_change_has_no_actions(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/data/raw.yaml", "  owner: team-accounts", "  owner: team-identity")
    gp.edit("specs/ml/models.yaml", "description: Sentence-level tone detection.", "description: Tone detection.")
    gp.commit("new owner, new description")
    plan = make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False).plan
    assert [(c.id, c.effect) for c in plan.changes] == [
        ("dataset/user-profiles", "metadata-only"),
        ("model/tone-classifier", "metadata-only"),
    ]
    assert plan.impact == [] and plan.actions == []


def test_new_endpoint_provisions_rolls_out_and_adds_gpus(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    extra = (gp.root / "specs/serving/endpoints.yaml").read_text().split("---\n")[-1]
    extra = extra.replace("name: rewrite-prod", "name: rewrite-eu").replace("max_replicas: 8", "max_replicas: 5")
    (gp.root / "specs/serving/rewrite-eu.yaml").write_text(extra)
    gp.commit("rewrite-eu endpoint")
    plan = make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False).plan
    assert [(c.id, c.change) for c in plan.changes] == [("endpoint/rewrite-eu", "create")]
    actions = {a.id: a for a in plan.actions}
    assert set(actions) == {"provision:endpoint/rewrite-eu", "rollout:endpoint/rewrite-eu"}
    assert actions["rollout:endpoint/rewrite-eu"].depends_on == ["provision:endpoint/rewrite-eu"]
    [gpu] = plan.gpu_deltas
    assert (gpu.stack, gpu.accelerator, gpu.before_max, gpu.after_max, gpu.delta_max) == (
        "prod-gpu",
        "H100",
        368,
        373,
        5,
    )
    assert plan.summary.gpus_delta_max == 5


def test_deleted_model_still_served_is_an_error(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    text = (gp.root / "specs/ml/models.yaml").read_text()
    docs = text.split("---\n")
    (gp.root / "specs/ml/models.yaml").write_text("---\n".join(d for d in docs if "name: rewrite-llm" not in d))
    gp.commit("remove rewrite-llm")
    with pytest.raises(SpecError) as info:
        make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False)
    codes = {(d.code, d.location.file if d.location else None) for d in info.value.diagnostics}
    assert ("deleted-still-used", "specs/serving/endpoints.yaml") in codes
    assert ("deleted-still-used", "specs/ml/evaluations.yaml") in codes
    d = next(
        d
        for d in info.value.diagnostics
        if d.location and d.location.file == "specs/serving/endpoints.yaml" and d.code == "deleted-still-used"
    )
    assert d.message == "model/rewrite-llm is deleted by this change but still referenced here"


def test_no_changes_against_the_same_commit(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    plan = make_plan(gp.root, PROD, base_ref="HEAD", use_cache=False).plan
    assert plan.changes == [] and plan.actions == []


def test_plan_json_validates_against_its_schema(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/ml/models.yaml", 'version: "3.2.0"', 'version: "3.3.0"')
    gp.commit("bump")
    plan = make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False).plan
    jsonschema.validate(plan.model_dump(mode="json"), plan_schema())
    # and the whole first plan against empty state too
    first = make_plan(gp.root, PROD, use_cache=False).plan
    jsonschema.validate(first.model_dump(mode="json"), plan_schema())
    assert first.summary.changes == {"create": 53}


def test_actions_an_apply_left_undone_are_carried_into_the_next_plan() -> None:
    from modelplane.compiler.change.state import AppliedNode, AppliedState, PendingAction
    from modelplane.compiler.compile import compile_graph, make_plan

    root = EXAMPLES / "quickstart"
    head = compile_graph(root, use_cache=False)
    applied = {str(n.id): AppliedNode(n.kind, n.file, n.index, n.data) for n in head.graph.nodes.values()}
    pending = {
        "rollout:endpoint/tiny-chat": PendingAction("rollout", "endpoint/tiny-chat", "skipped: evaluate failed"),
        "rollout:endpoint/gone": PendingAction("rollout", "endpoint/gone", "its node was deleted since"),
    }

    class Reader:
        def applied(self, environment: str) -> AppliedState:
            return AppliedState(7, applied, pending)

    result = make_plan(root, state=Reader(), use_cache=False)
    assert result.plan.changes == [] and result.plan.state_serial == 7
    actions = {a.id: a for a in result.plan.actions}
    assert "rollout:endpoint/gone" not in actions
    rollout = actions["rollout:endpoint/tiny-chat"]
    assert rollout.reason == "left over from an earlier apply: skipped: evaluate failed"


def test_owners_are_grouped_by_what_they_must_do(git_example: Make) -> None:
    """Removing a column a feature reads: the feature's owner must fix it, the model owners are told of
    the retrain the apply runs and must re-evaluate, the dataset's owner is named for the change, consumers are informed;
    each with the most critical tier of the services their nodes feed."""
    gp = git_example("assistant-platform")
    gp.edit("specs/data/raw.yaml", "      - {name: country, type: string}\n", "")
    gp.commit("drop country from user-profiles")
    plan = make_plan(gp.root, PROD, base_ref="HEAD~1", allow_breaking=True, use_cache=False).plan
    must = {o.owner: o.must for o in plan.owners_to_notify}
    assert must["team-personalization"]["fix"] == ["feature/user-writing-profile"]
    # the apply retrains it (its workflow re-runs): its owner is told, not asked to retrain it
    assert "retrain" not in must["team-grammar-ml"]
    assert "model/grammar-llm" in must["team-grammar-ml"]["be-informed"]
    assert "evaluation/grammar-llm-gold" in must["team-grammar-ml"]["re-evaluate"]
    assert must["team-trust-safety"]["re-evaluate"] == ["evaluation/grammar-llm-safety"]
    assert must["team-accounts"] == {"review-change": ["dataset/user-profiles"]}
    assert must["team-editor"] == {"be-informed": ["service/editor-inline-suggestions"]}
    tiers = {o.owner: o.most_critical_tier for o in plan.owners_to_notify}
    # the feature feeds the tier-0 grammar services, so its owner's notice is tier 0
    assert tiers["team-personalization"] == 0
    actions = {a.id: a for a in plan.actions}
    # the model owner is told after the retrain and evaluations; the change's author gets no notice
    notify = actions["notify:owner/team-grammar-ml"]
    assert "run-workflow:workflow/finetune-grammar-llm" in notify.depends_on
    assert isinstance(notify.details, NotifyDetails) and notify.details.must == must["team-grammar-ml"]
    assert "notify:owner/team-accounts" not in actions
    assert "notify:owner/team-personalization" in actions
    from modelplane.compiler.report.markdown import render as render_md
    from modelplane.compiler.report.text import render as render_text

    text = render_text(plan)
    section = text[text.index("Owners to notify") :]
    assert section.index("fix a broken consumer") < section.index("re-evaluate") < section.index("be informed")
    assert "retrain a stale model" not in section
    assert "team-personalization (tier 0): feature/user-writing-profile" in section
    md = render_md(plan, make_plan(gp.root, PROD, base_ref="HEAD~1", allow_breaking=True).head.graph)
    assert "| fix a broken consumer | team-personalization | 0 | feature/user-writing-profile |" in md
