"""``compute`` (impact) on graphs built in memory: what each change means downstream, as the signal table
(README "Plans and impact", ``compiler.change.impact.RULES``) says, and the closure it covers."""

from __future__ import annotations

from modelplane.compiler.change.impact import Impact
from modelplane.specs.base import NodeId
from tests.compiler.graphs import Doc, compiled, plan_between, platform


def _impact(head: dict[str, Doc], base: dict[str, Doc] | None = None) -> Impact:
    b = compiled((base or platform()).values())
    return plan_between(b, compiled(head.values(), allow={"unknown-column"})).impact


def _categories(impact: Impact) -> dict[str, str]:
    return {str(n): a.category for n, a in impact.affected.items()}


def test_a_removed_column_breaks_the_feature_that_reads_it_and_only_that_one() -> None:
    head = platform()
    cols = head["dataset/tickets"]["spec"]["schema"]["columns"]
    cols[:] = [c for c in cols if c["name"] != "body"]
    impact = _impact(head)
    lang, geo = impact.affected[NodeId("feature", "ticket-lang")], impact.affected[NodeId("feature", "ticket-geo")]
    assert (lang.category, lang.broken_columns) == ("broken", ["body"])
    assert lang.reasons == ["dataset/tickets removed column `body`", "feature/ticket-lang reads `body`"]
    # column-level lineage: the other feature reads only `country`
    assert geo.category == "unaffected"
    assert geo.reasons[-1] == "feature/ticket-geo reads only `country`, none of them changed"
    # the schema change reaches the training workflow's input too: it re-runs, the model retrains
    cats = _categories(impact)
    assert (cats["workflow/train-chat"], cats["model/chat"]) == ("retrain-required", "retrain-required")


def test_new_data_retrains_re_evaluates_and_rolls_out_the_retrained_model() -> None:
    head = platform()
    head["dataset/tickets"]["spec"]["uri"] = "file://tickets-v2.jsonl"
    assert _categories(_impact(head)) == {
        "feature/ticket-geo": "notify",  # computed from changed data
        "feature/ticket-lang": "notify",
        "workflow/train-chat": "retrain-required",  # an input changed, retrain_on_change is on
        "model/chat": "retrain-required",
        "evaluation/chat-holdout": "re-evaluate-required",
        "evaluation/chat-quality": "re-evaluate-required",
        "endpoint/chat": "rollout-required",  # its model's workflow re-runs in this plan: a canary of the artifact
        "service/support-bot": "notify",
    }


def test_with_retrain_on_change_off_the_model_is_stale_and_its_endpoint_only_told() -> None:
    base, head = platform(), platform()
    for docs in (base, head):
        docs["workflow/train-chat"]["spec"]["retrain_on_change"] = False
    head["dataset/tickets"]["spec"]["uri"] = "file://tickets-v2.jsonl"
    impact = _impact(head, base)
    cats = _categories(impact)
    assert (cats["workflow/train-chat"], cats["model/chat"]) == ("notify", "retrain-required")
    assert impact.affected[NodeId("workflow", "train-chat")].reasons[-1] == (
        "workflow/train-chat has a changed input (retrain_on_change is off)"
    )
    assert cats["endpoint/chat"] == "notify"
    assert impact.affected[NodeId("endpoint", "chat")].reasons[-1] == (
        "endpoint/chat serves it (stale: nothing in this plan retrains the model)"
    )


def test_a_model_version_reaches_the_service_with_the_chain_of_reasons() -> None:
    head = platform()
    head["model/chat"]["spec"]["version"] = "1.1.0"
    impact = _impact(head)
    cats = _categories(impact)
    assert cats == {
        "evaluation/chat-holdout": "re-evaluate-required",
        "evaluation/chat-quality": "re-evaluate-required",
        "endpoint/chat": "rollout-required",
        "service/support-bot": "notify",
    }
    assert impact.affected[NodeId("service", "support-bot")].reasons == [
        "model/chat version 1.0.0 -> 1.1.0",
        "endpoint/chat rolls out the new version",
        "service/support-bot (tier 1) consumes it",
    ]


def test_a_metadata_only_change_starts_no_closure() -> None:
    head = platform()
    head["model/chat"]["metadata"]["description"] = "A chat model."
    head["dataset/tickets"]["metadata"]["labels"] = {"pii": "yes"}
    assert _impact(head).affected == {}


def test_a_new_freshness_policy_is_no_new_data() -> None:
    """Only content, version, location or upstream data send `data`: every node below is unaffected, with why."""
    head = platform()
    head["dataset/tickets"]["spec"]["freshness"] = "1d"
    impact = _impact(head)
    assert set(_categories(impact).values()) == {"unaffected"}
    assert all(a.reasons for a in impact.affected.values())


def test_a_changed_stack_tells_its_endpoints_and_stops_there() -> None:
    """`serving` along `hosts` notifies the endpoint and passes nothing on: its consumers are unaffected."""
    head = platform()
    head["stack/local"]["spec"]["namespace"] = "serving"
    impact = _impact(head)
    assert _categories(impact) == {"endpoint/chat": "notify", "service/support-bot": "unaffected"}
    assert impact.affected[NodeId("endpoint", "chat")].reasons == [
        "stack/local changed spec.namespace",
        "endpoint/chat runs on the changed stack",
    ]
    assert impact.affected[NodeId("service", "support-bot")].reasons == [
        "endpoint/chat is notify, which does not change what service/support-bot uses"
    ]


def test_a_changed_evaluation_re_runs_and_gates_without_changing_what_is_served() -> None:
    head = platform()
    head["evaluation/chat-quality"]["spec"]["metrics"] = [{"name": "exact_match", "min": 0.4}]
    impact = _impact(head)
    cats = _categories(impact)
    assert cats["evaluation/chat-quality"] == "re-evaluate-required"
    # reached only through `gates`, which carries no change of what it serves
    assert (cats["endpoint/chat"], cats["service/support-bot"]) == ("unaffected", "unaffected")


def test_impact_covers_the_whole_downstream_closure() -> None:
    head = platform()
    head["dataset/tickets"]["spec"]["version"] = "2"
    head_graph = compiled(head.values()).graph
    impact = _impact(head)
    assert set(impact.affected) == head_graph.downstream([NodeId("dataset", "tickets")])
