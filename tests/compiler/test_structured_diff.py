"""List and mapping changes are shown item by item, never as a (truncated) repr."""

from __future__ import annotations

from modelplane.compiler.change.diff import field_changes
from modelplane.compiler.report.text import field_delta_text


def _steps(*pauses: str) -> dict:
    return {
        "spec": {
            "rollout": {"steps": [{"weight": w, "pause": p} for w, p in zip((5, 25, 50, 100), pauses, strict=True)]}
        }
    }


def test_a_changed_rollout_step_is_one_field_of_one_item() -> None:
    [change] = field_changes(_steps("1m", "1m", "1m", "1m"), _steps("1m", "10s", "1m", "1m"))
    assert (change.path, change.before, change.after) == ("spec.rollout.steps[1].pause", "1m", "10s")
    assert field_delta_text(change.path, change.before, change.after) == 'spec.rollout.steps[1].pause: "1m" -> "10s"'


def test_named_items_are_matched_by_name_so_an_insertion_is_one_addition() -> None:
    before = {"spec": {"inputs": [{"dataset": "a", "columns": ["x"]}, {"dataset": "b", "columns": ["y"]}]}}
    after = {"spec": {"inputs": [{"dataset": "new", "columns": ["z"]}, *before["spec"]["inputs"]]}}
    [change] = field_changes(before, after)
    assert change.path == "spec.inputs[dataset=new]"
    assert change.before is None and change.after == {"dataset": "new", "columns": ["z"]}
    text = field_delta_text(change.path, change.before, change.after)
    assert text == 'spec.inputs[dataset=new]: added {"dataset": "new", "columns": ["z"]}'
    assert "'" not in text  # JSON, not a Python repr


def test_a_plain_list_shows_what_was_added_and_removed() -> None:
    before = {"spec": {"consumes": ["endpoint/a", "endpoint/b"]}}
    after = {"spec": {"consumes": ["endpoint/b", "endpoint/c"]}}
    [change] = field_changes(before, after)
    assert change.path == "spec.consumes"
    assert field_delta_text(change.path, change.before, change.after) == (
        'spec.consumes: added "endpoint/c"; removed "endpoint/a"'
    )
    [reordered] = field_changes(before, {"spec": {"consumes": ["endpoint/b", "endpoint/a"]}})
    assert field_delta_text(reordered.path, reordered.before, reordered.after).startswith("spec.consumes: reordered")


def test_removed_items_and_nested_mappings() -> None:
    before = {"spec": {"steps": [{"weight": 5}, {"weight": 100}], "labels": {"a": "1", "b": "2"}}}
    after = {"spec": {"steps": [{"weight": 5}], "labels": {"a": "1", "b": "3"}}}
    changes = {c.path: (c.before, c.after) for c in field_changes(before, after)}
    assert changes == {"spec.labels.b": ("2", "3"), "spec.steps[1]": ({"weight": 100}, None)}
    assert field_delta_text("spec.steps[1]", {"weight": 100}, None) == 'spec.steps[1]: removed {"weight": 100}'
