"""``diff`` on graphs built in memory (tests/compiler/graphs.py): how each node is classified (create / update /
replace / delete) and by effect (breaking / non-breaking / metadata-only), per compiler/change/diff.py's rules."""

from __future__ import annotations

from modelplane.compiler.change.diff import Diff, diff
from modelplane.specs.base import NodeId
from tests.compiler.graphs import Doc, compiled, platform

TICKETS = NodeId("dataset", "tickets")


def _diff(base: dict[str, Doc], head: dict[str, Doc]) -> Diff:
    b, h = compiled(base.values(), allow={"unknown-column"}), compiled(head.values(), allow={"unknown-column"})
    return diff(b.graph, h.graph, b.fingerprints, h.fingerprints)


def test_the_same_documents_are_no_change() -> None:
    assert _diff(platform(), platform()).changes == {}


def test_a_default_written_out_is_no_change() -> None:
    """Documents compare normalized: `version: "1"` is a dataset's default, `blocking: true` an evaluation's."""
    head = platform()
    head["dataset/tickets"]["spec"]["version"] = "1"
    head["evaluation/chat-quality"]["spec"]["blocking"] = True
    assert _diff(platform(), head).changes == {}


def test_owner_and_description_are_a_metadata_only_update() -> None:
    head = platform()
    head["dataset/tickets"]["metadata"].update(owner="team-identity", description="Exported nightly.")
    [change] = _diff(platform(), head).changes.values()
    assert (change.id, change.change, change.effect) == (TICKETS, "update", "metadata-only")
    assert {(f.path, f.before, f.after) for f in change.fields} == {
        ("metadata.owner", "team-data", "team-identity"),
        ("metadata.description", "", "Exported nightly."),
    }


def test_a_removed_or_retyped_column_is_breaking_and_an_added_one_is_not() -> None:
    head = platform()
    columns = head["dataset/tickets"]["spec"]["schema"]["columns"]
    columns[:] = [c for c in columns if c["name"] != "reply"]
    next(c for c in columns if c["name"] == "country")["type"] = "int64"
    columns.append({"name": "timezone", "type": "string"})
    change = _diff(platform(), head).changes[TICKETS]
    assert (change.change, change.effect) == ("update", "breaking")
    assert change.columns is not None
    assert (change.columns.added, change.columns.removed) == (["timezone"], ["reply"])
    assert change.columns.retyped == [("country", "string", "int64")]
    assert change.breaking_reasons == ["removed column `reply`", "column `country` changed type string -> int64"]

    added_only = platform()
    added_only["dataset/tickets"]["spec"]["schema"]["columns"].append({"name": "timezone", "type": "string"})
    change = _diff(platform(), added_only).changes[TICKETS]
    assert (change.effect, change.breaking_reasons) == ("non-breaking", [])
    # a named list item is matched by its name: an appended column is one added item, not a shift
    assert [(f.path, f.before) for f in change.fields] == [("spec.schema.columns[name=timezone]", None)]


def test_a_new_dataset_format_replaces_it_and_breaks_its_readers() -> None:
    head = platform()
    head["dataset/tickets"]["spec"]["format"] = "parquet"
    change = _diff(platform(), head).changes[TICKETS]
    assert (change.change, change.effect, change.breaking_reasons) == ("replace", "breaking", ["format changed"])


def test_an_endpoint_moving_to_another_stack_is_replaced() -> None:
    base = platform()
    base["stack/gpu"] = {**base["stack/local"], "metadata": {"name": "gpu", "owner": "team-platform"}}
    head = platform()
    head["stack/gpu"] = base["stack/gpu"]
    head["endpoint/chat"]["spec"]["stack"] = "gpu"
    [change] = _diff(base, head).changes.values()
    assert (change.id, change.change, change.effect) == (NodeId("endpoint", "chat"), "replace", "non-breaking")


def test_a_shorter_context_length_breaks_what_serves_the_model() -> None:
    head = platform()
    head["model/chat"]["spec"]["context_length"] = 2048  # the default is 4096
    change = _diff(platform(), head).changes[NodeId("model", "chat")]
    assert (change.change, change.effect) == ("update", "breaking")
    assert change.breaking_reasons == ["context_length shrank 4096 -> 2048"]


def test_a_deleted_node_with_dependents_is_breaking_and_names_them() -> None:
    """A dependent that survives would not compile (a dangling reference), so they are deleted together."""
    head = platform()
    del head["endpoint/chat"], head["service/support-bot"]
    changes = _diff(platform(), head).changes
    assert list(changes) == [NodeId("endpoint", "chat"), NodeId("service", "support-bot")]  # sorted by id
    endpoint, service = changes.values()
    assert (endpoint.change, endpoint.effect) == ("delete", "breaking")
    assert endpoint.breaking_reasons == ["deleted together with service/support-bot"]
    assert (service.change, service.effect, service.breaking_reasons) == ("delete", "non-breaking", [])


def test_a_new_node_is_a_non_breaking_create() -> None:
    head = platform()
    head["service/helpdesk"] = {**head["service/support-bot"], "metadata": {"name": "helpdesk", "owner": "team-h"}}
    [change] = _diff(platform(), head).changes.values()
    assert (change.id, change.change, change.effect, change.fields) == (
        NodeId("service", "helpdesk"),
        "create",
        "non-breaking",
        [],
    )
