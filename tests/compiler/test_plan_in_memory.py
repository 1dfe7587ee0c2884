"""``build_plan`` on graphs built in memory: which actions a change makes, in which order, what they say, the
GPU deltas and the owners to notify (compiler/plan/actions.py, README "Plans and impact" and "In place or a new
revision"). The same rules on git histories of the examples: test_plan_scenarios.py."""

from __future__ import annotations

import random
from typing import Any

import pytest

from modelplane.compiler.change.moves import effective_moves, moved_in
from modelplane.compiler.compile import graph_from_state
from modelplane.compiler.plan.model import Plan, PlanAction
from modelplane.specs.base import NodeId
from modelplane.specs.project import Project
from tests.compiler.graphs import Doc, Planned, applied, compiled, plan_between, platform


def detail(action: PlanAction, key: str) -> Any:
    """One field of an action's payload (its typed payload's attribute; None where the type has no such field)."""
    return getattr(action.details, key, None)


def _plan(head: dict[str, Doc], base: dict[str, Doc] | None = None) -> Plan:
    b = compiled((base or platform()).values())
    return plan_between(b, compiled(head.values(), allow={"unknown-column"})).plan


def _actions(plan: Plan) -> dict[str, PlanAction]:
    _assert_ordered(plan)
    return {a.id: a for a in plan.actions}


def _assert_ordered(plan: Plan) -> None:
    """Every action after its dependencies, each id `type:target` and unique."""
    seen: set[str] = set()
    for a in plan.actions:
        assert a.id == f"{a.type}:{a.target}" and a.id not in seen
        assert set(a.depends_on) <= seen, f"{a.id} comes before {sorted(set(a.depends_on) - seen)}"
        seen.add(a.id)


def _new_data() -> dict[str, Doc]:
    head = platform()
    head["dataset/tickets"]["spec"]["uri"] = "file://tickets-v2.jsonl"
    return head


RUN = "run-workflow:workflow/train-chat"


def test_new_data_retrains_then_evaluates_then_rolls_out_a_canary() -> None:
    acts = _actions(_plan(_new_data()))
    assert {a for a in acts if not a.startswith("notify:")} == {
        "register:dataset/tickets",
        RUN,
        "register:model/chat",
        "evaluate:evaluation/chat-quality",
        "evaluate:evaluation/chat-holdout",
        "rollout:endpoint/chat",
    }
    # the catalog registers what the run trained; the evaluations judge the trained weights
    assert RUN in acts["register:model/chat"].depends_on
    assert detail(acts["register:model/chat"], "trained_by") == RUN
    assert detail(acts[RUN], "trains") == ["model/chat"]
    for ev in ("evaluate:evaluation/chat-quality", "evaluate:evaluation/chat-holdout"):
        assert {RUN, "register:model/chat"} <= set(acts[ev].depends_on)
        assert detail(acts[ev], "trained_by") == RUN
    rollout = acts["rollout:endpoint/chat"]
    # gated by the blocking evaluation only; the non-blocking holdout runs but does not gate
    assert "evaluate:evaluation/chat-quality" in rollout.depends_on
    assert "evaluate:evaluation/chat-holdout" not in rollout.depends_on
    assert detail(rollout, "trained_by") == RUN
    assert rollout.reason.endswith(
        "rolls out the artifact trained in this apply as a canary, gated by evaluation/chat-quality"
    )


def test_with_nothing_to_retrain_the_stale_model_gets_no_evaluation_or_rollout() -> None:
    """retrain_on_change off: evaluating now would re-measure the old model; its owner must retrain it."""
    base, head = platform(), _new_data()
    for docs in (base, head):
        docs["workflow/train-chat"]["spec"]["retrain_on_change"] = False
    plan = _plan(head, base)
    assert [a.id for a in plan.actions if not a.id.startswith("notify:")] == ["register:dataset/tickets"]
    must = {o.owner: o.must for o in plan.owners_to_notify}
    assert must["team-ml"]["retrain"] == ["model/chat"]


def test_a_changed_training_workflow_does_not_run_itself_and_leaves_its_model_stale() -> None:
    """`retrain_on_change` runs a workflow when an input changes; its own change sends `data` downstream: the
    model is stale with nothing in this plan retraining it, so its owner must retrain it and nothing rolls out."""
    head = platform()
    head["workflow/train-chat"]["spec"]["command"] = ["python3", "train-v2.py"]
    plan = _plan(head)
    assert [a.id for a in plan.actions if a.type != "notify"] == ["register:workflow/train-chat"]
    must = {o.owner: o.must for o in plan.owners_to_notify}
    assert must["team-ml"] == {"retrain": ["model/chat"], "review-change": ["workflow/train-chat"]}
    assert must["team-serving"] == {"be-informed": ["endpoint/chat"]}


def test_a_model_version_bump_re_evaluates_and_rolls_out_behind_the_blocking_evaluation() -> None:
    head = platform()
    head["model/chat"]["spec"]["version"] = "1.1.0"
    acts = _actions(_plan(head))
    assert RUN not in acts  # a new version is declared, not trained here
    for ev in ("evaluate:evaluation/chat-quality", "evaluate:evaluation/chat-holdout"):
        assert acts[ev].depends_on == ["register:model/chat"]
    rollout = acts["rollout:endpoint/chat"]
    assert rollout.depends_on == ["evaluate:evaluation/chat-quality", "register:model/chat"]
    assert detail(rollout, "in_place") is None  # its model's spec is part of the revision


def test_an_in_place_endpoint_field_keeps_the_revision_and_adds_gpus() -> None:
    head = platform()
    head["endpoint/chat"]["spec"]["autoscaling"]["max_replicas"] = 6
    plan = _plan(head)
    rollout = _actions(plan)["rollout:endpoint/chat"]
    assert detail(rollout, "in_place") is True
    assert "changes in place (autoscaling.max_replicas)" in rollout.reason and "no new replicas" in rollout.reason
    [gpu] = plan.gpu_deltas  # one L4 per replica, 1..4 replicas -> 1..6
    assert (gpu.stack, gpu.accelerator, gpu.before_min, gpu.before_max, gpu.after_min, gpu.after_max) == (
        "local",
        "L4",
        1,
        4,
        1,
        6,
    )
    assert (plan.summary.gpus_delta_min, plan.summary.gpus_delta_max) == (0, 2)


def test_a_revision_field_rolls_out_a_new_revision() -> None:
    head = platform()
    head["endpoint/chat"]["spec"]["engine"] = {"args": {"max_num_seqs": 32}}
    plan = _plan(head)
    rollout = _actions(plan)["rollout:endpoint/chat"]
    assert detail(rollout, "in_place") is None and rollout.reason == "endpoint/chat is changed"
    assert plan.gpu_deltas == []


def test_an_endpoint_moving_stacks_provisions_rolls_out_then_decommissions_the_old_one() -> None:
    base = platform()
    base["stack/gpu"] = {**base["stack/local"], "metadata": {"name": "gpu", "owner": "team-platform"}}
    head = platform()
    head["stack/gpu"] = base["stack/gpu"]
    head["endpoint/chat"]["spec"]["stack"] = "gpu"
    plan = _plan(head, base)
    acts = _actions(plan)
    assert acts["rollout:endpoint/chat"].depends_on == ["provision:endpoint/chat"]
    # the new revision serves before the old one goes
    assert acts["decommission:endpoint/chat@stack/local"].depends_on == ["rollout:endpoint/chat"]
    assert [(g.stack, g.before_max, g.after_max) for g in plan.gpu_deltas] == [("gpu", 0, 4), ("local", 4, 0)]


def test_a_new_stack_is_provisioned_before_the_endpoint_that_moves_onto_it() -> None:
    head = platform()
    head["stack/gpu"] = {**head["stack/local"], "metadata": {"name": "gpu", "owner": "team-platform"}}
    head["endpoint/chat"]["spec"]["stack"] = "gpu"
    acts = _actions(_plan(head))
    assert acts["provision:endpoint/chat"].depends_on == ["provision:stack/gpu"]
    assert acts["rollout:endpoint/chat"].depends_on == ["provision:endpoint/chat", "provision:stack/gpu"]


def test_a_new_endpoint_is_provisioned_then_rolled_out() -> None:
    head = platform()
    spec = {**head["endpoint/chat"]["spec"], "autoscaling": {"min_replicas": 1, "max_replicas": 5}}
    head["endpoint/chat-eu"] = {**head["endpoint/chat"], "metadata": {"name": "chat-eu", "owner": "team-serving"}}
    head["endpoint/chat-eu"]["spec"] = spec
    plan = _plan(head)
    # its author is named in the report, not sent a notice: nothing else is affected
    assert [(a.id, a.depends_on) for a in plan.actions] == [
        ("provision:endpoint/chat-eu", []),
        ("rollout:endpoint/chat-eu", ["provision:endpoint/chat-eu"]),
    ]
    [gpu] = plan.gpu_deltas
    assert (gpu.before_max, gpu.after_max, gpu.delta_max) == (4, 9, 5)


def test_deleting_an_endpoint_decommissions_it_and_frees_its_gpus() -> None:
    head = platform()
    del head["endpoint/chat"], head["service/support-bot"]
    plan = _plan(head)
    # a service has nothing to tear down; its owner's notice: test_the_author_of_a_services_own_change_is_not_notified
    assert [a.id for a in plan.actions if a.type != "notify"] == ["decommission:endpoint/chat"]
    [gpu] = plan.gpu_deltas
    assert (gpu.after_min, gpu.after_max, gpu.delta_max) == (0, 0, -4)
    assert [(c.id, c.change, c.effect) for c in plan.changes] == [
        ("endpoint/chat", "delete", "breaking"),
        ("service/support-bot", "delete", "non-breaking"),
    ]
    assert {o.owner: o.must for o in plan.owners_to_notify} == {
        "team-serving": {"review-change": ["endpoint/chat"]},
        "team-support": {"review-change": ["service/support-bot"]},
    }


def test_a_changed_evaluation_is_registered_and_run_and_no_rollout_follows() -> None:
    head = platform()
    head["evaluation/chat-quality"]["spec"]["metrics"] = [{"name": "exact_match", "min": 0.4}]
    acts = _actions(_plan(head))
    assert {a for a in acts if not a.startswith("notify:")} == {
        "register:evaluation/chat-quality",
        "evaluate:evaluation/chat-quality",
    }
    assert acts["evaluate:evaluation/chat-quality"].depends_on == ["register:evaluation/chat-quality"]


def test_a_metadata_only_change_has_no_actions() -> None:
    head = platform()
    head["model/chat"]["metadata"]["owner"] = "team-research"
    plan = _plan(head)
    assert plan.actions == [] and plan.impact == [] and plan.gpu_deltas == []


def test_owners_are_told_what_they_must_do_after_the_work_upstream_of_them() -> None:
    head = platform()
    head["model/chat"]["spec"]["version"] = "1.1.0"
    plan = _plan(head)
    notices = {o.owner: o for o in plan.owners_to_notify}
    assert {o: n.must for o, n in notices.items()} == {
        "team-eval": {"re-evaluate": ["evaluation/chat-holdout", "evaluation/chat-quality"]},
        "team-ml": {"review-change": ["model/chat"]},
        "team-serving": {"watch-rollout": ["endpoint/chat"]},
        "team-support": {"be-informed": ["service/support-bot"]},
    }
    assert notices["team-support"].services == ["service/support-bot"]
    # every notice carries the most critical tier its nodes feed: all of them feed the tier-1 service
    assert {n.most_critical_tier for n in notices.values()} == {1}
    acts = _actions(plan)
    assert "notify:owner/team-ml" not in acts  # the author of the change
    assert set(acts["notify:owner/team-support"].depends_on) == {
        "rollout:endpoint/chat",
        "evaluate:evaluation/chat-quality",
    }
    assert detail(acts["notify:owner/team-support"], "services") == ["service/support-bot"]


def test_the_author_of_a_services_own_change_is_not_notified() -> None:
    head = platform()
    del head["endpoint/chat"], head["service/support-bot"]
    assert [a.id for a in _plan(head).actions if a.type == "notify"] == []


def test_a_broken_feature_asks_its_owner_to_fix_it_and_counts_as_breaking() -> None:
    head = platform()
    cols = head["dataset/tickets"]["spec"]["schema"]["columns"]
    cols[:] = [c for c in cols if c["name"] != "body"]
    plan = _plan(head)
    must = {o.owner: o.must for o in plan.owners_to_notify}
    assert must["team-features"]["fix"] == ["feature/ticket-lang"]
    assert "fix" not in must.get("team-ml", {})
    assert plan.summary.breaking == 2  # the dataset's change, and the feature it breaks
    assert not any(a.target == "feature/ticket-geo" for a in plan.actions)  # unaffected: no action, no notice


@pytest.mark.parametrize("make", [_new_data, platform])
def test_the_plan_does_not_depend_on_the_order_documents_are_written_in(make: Any) -> None:
    """Action ids, their order and dependencies are a function of the specs, not of how they were listed."""
    head = make()
    shuffled = list(head.items())
    random.Random(7).shuffle(shuffled)
    one = plan_between(compiled(platform().values()), compiled(head.values())).plan
    two = plan_between(compiled(reversed(platform().values())), compiled(dict(shuffled).values())).plan
    assert one.model_dump() == two.model_dump()


def _renamed(base: dict[str, Doc], head: dict[str, Doc], moved: list[dict[str, str]]) -> Planned:
    """Plan ``head`` against the state an apply of ``base`` recorded, with ``moved`` records, as ``make_plan``
    does (``effective_moves``, ``moved_in``, ``graph_from_state``)."""
    project = Project.model_validate({"name": "unit", "moved": moved})
    state = applied(compiled(base.values(), project=project).graph)
    head_compiled = compiled(head.values(), project=project)
    state = moved_in(state, effective_moves(state, project.moved))
    return plan_between(graph_from_state(head_compiled.specs, state), head_compiled)


def _rename(docs: dict[str, Doc], old: str, new: str) -> None:
    moved = docs.pop(old)
    moved["metadata"]["name"] = new.split("/")[1]
    docs[new] = moved


def test_a_rename_with_a_moved_record_is_an_update_not_a_delete_and_a_create() -> None:
    head = platform()
    _rename(head, "service/support-bot", "service/helpdesk")
    head["service/helpdesk"]["spec"]["tier"] = 0
    plain = _renamed(platform(), head, [])
    assert {(str(n), c.change) for n, c in plain.diff.changes.items()} == {
        ("service/support-bot", "delete"),
        ("service/helpdesk", "create"),
    }
    moved = _renamed(platform(), head, [{"from": "service/support-bot", "to": "service/helpdesk"}])
    assert [(c.id, c.change, [f.path for f in c.fields]) for c in moved.plan.changes] == [
        ("service/helpdesk", "update", ["spec.tier"])
    ]


def _stack_renamed() -> dict[str, Doc]:
    head = platform()
    _rename(head, "stack/local", "stack/local-a")
    head["endpoint/chat"]["spec"]["stack"] = "local-a"
    return head


def test_a_state_whose_references_dangle_needs_no_spec_file() -> None:
    """An applied endpoint naming a stack the state lacks (an apply that stopped half-way): the applied graph
    leaves that edge out without locating it in a spec file (the in-memory documents have none on disk;
    before, `plan` crashed with FileNotFoundError where the file had been moved or deleted)."""
    state = applied(compiled(platform().values()).graph)
    del state.nodes["stack/local"]
    head = compiled(platform().values())
    base = graph_from_state(head.specs, state)
    assert NodeId.parse("stack/local") not in base
    assert base.out_edges(NodeId.parse("endpoint/chat")) or base.in_edges(NodeId.parse("endpoint/chat"))
    planned = plan_between(base, head)
    assert [(str(n), c.change) for n, c in planned.diff.changes.items()] == [("stack/local", "create")]


def test_renaming_a_stack_with_a_moved_record_leaves_its_endpoints_in_place() -> None:
    head = _stack_renamed()
    plan = _renamed(platform(), head, [{"from": "stack/local", "to": "stack/local-a"}]).plan
    assert [a.id for a in plan.actions if a.type in ("provision", "decommission", "rollout")] == []


def test_renaming_a_model_with_a_moved_record_plans_no_retrain_and_no_rollout() -> None:
    head = platform()
    _rename(head, "model/chat", "model/chatbot")
    head["workflow/train-chat"]["spec"]["outputs"] = ["model/chatbot"]
    for nid in ("evaluation/chat-quality", "evaluation/chat-holdout", "endpoint/chat"):
        head[nid]["spec"]["model"] = "chatbot"
    planned = _renamed(platform(), head, [{"from": "model/chat", "to": "model/chatbot"}])
    assert not any(o.must.get("retrain") for o in planned.plan.owners_to_notify)
    assert [a.id for a in planned.plan.actions if a.type in ("evaluate", "rollout", "run-workflow")] == []
