"""Typed action payloads (``compiler.plan.payloads``) read and write the JSON the ``details`` dicts did.

Each action type has its own payload; a plan file (``plan --out``) read back and written again is the same
bytes, so a plan saved before the types keeps its id and seal, and a recorded workflow input decodes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.execution import executable
from modelplane.compiler.plan.model import ExecutionAction, Plan, PlanAction
from modelplane.compiler.plan.payloads import (
    PAYLOADS,
    ExecutionDetails,
    NoDetails,
    NotifyDetails,
    RegisterDetails,
    RolloutDetails,
    RunDetails,
)
from modelplane.runtime.temporal.messages import ActionSpec
from tests.conftest import EXAMPLES


@pytest.mark.parametrize(("example", "env"), [("quickstart", None), ("assistant-platform", "prod")])
def test_a_real_plan_file_reads_back_to_the_same_bytes(example: str, env: str | None) -> None:
    result = make_plan(EXAMPLES / example, env, use_cache=False)
    saved = executable(result.plan, result.head.graph, result.base)
    text = saved.model_dump_json(indent=2)  # what `plan --out` writes
    again = Plan.model_validate_json(text)
    assert again.model_dump_json(indent=2) == text and again.id == saved.id
    for action in again.actions:
        assert type(action.details) is PAYLOADS[action.type], action.id
    assert again.execution is not None
    assert all(isinstance(a.details, ExecutionDetails) for a in again.execution.actions)
    stacks = {a.details.stack for a in again.execution.actions if a.id.startswith("rollout:")}
    assert stacks and None not in stacks  # every rollout names its stack


def test_payloads_write_only_the_fields_that_were_set_in_the_dicts_order() -> None:
    assert PlanAction(id="provision:stack/s", type="provision", target="stack/s", reason="r").details == NoDetails()
    plain = PlanAction.model_validate(
        {"id": "rollout:endpoint/e", "type": "rollout", "target": "endpoint/e", "reason": "r"}
    )
    assert plain.model_dump(mode="json")["details"] == {}
    retrain = '{"trained_by":"run-workflow:workflow/w","retrain":"rolls out the artifact"}'
    assert RolloutDetails.model_validate_json(retrain).model_dump_json() == retrain
    # a notice with no tier keeps its null (the dict always had the key)
    notice = NotifyDetails(services=[], most_critical_tier=None, must={"be-informed": ["service/s"]})
    assert notice.model_dump_json() == '{"services":[],"most_critical_tier":null,"must":{"be-informed":["service/s"]}}'
    assert RunDetails(trains=["model/m"]).to_json() == {"trains": ["model/m"]}
    assert RegisterDetails().to_json() == {}


def test_an_in_place_rollout_keeps_its_revision_where_the_plan_put_it() -> None:
    """The execution part adds ``stack`` after the plan's own ``in_place``/``revision``; an ordinary rollout's
    ``revision`` comes after ``stack``: both orders are what the dicts wrote."""
    in_place = RolloutDetails(in_place=True, revision="r1")
    added = {"stack": "local", "revision": "r1", "engine_args": ["m"]}
    assert list(ExecutionDetails.of(in_place, **added).to_json()) == ["in_place", "revision", "stack", "engine_args"]
    assert list(ExecutionDetails.of(RolloutDetails(), **added).to_json()) == ["stack", "revision", "engine_args"]
    text = '{"in_place":true,"revision":"r1","stack":"local","engine_args":["m"]}'
    action = ExecutionAction.model_validate_json('{"id":"rollout:endpoint/e","details":' + text + "}")
    assert action.details.model_dump_json() == text


def test_a_field_an_action_type_lacks_is_refused() -> None:
    with pytest.raises(ValidationError, match="trained_byy"):
        PlanAction.model_validate(
            {
                "id": "rollout:endpoint/e",
                "type": "rollout",
                "target": "endpoint/e",
                "reason": "r",
                "details": {"trained_byy": "x"},
            }
        )
    with pytest.raises(ValidationError, match="services"):  # a notice's fields belong to notify only
        PlanAction.model_validate(
            {
                "id": "evaluate:evaluation/q",
                "type": "evaluate",
                "target": "evaluation/q",
                "reason": "r",
                "details": {"services": []},
            }
        )


def test_a_workflow_input_decodes_its_details_typed_and_encodes_them_unchanged() -> None:
    wire = '{"trains":["model/m"],"timeout_s":3600.0,"secrets":{"HF_TOKEN":{"env":"HF"}}}'
    spec = ActionSpec.model_validate_json(
        '{"id":"run-workflow:workflow/w","type":"run-workflow","target":"workflow/w","details":' + wire + "}"
    )
    assert spec.details.trains == ["model/m"] and spec.details.timeout_s == 3600.0
    assert spec.details.secrets == {"HF_TOKEN": {"env": "HF"}} and spec.details.stack is None
    assert spec.details.model_dump_json() == wire


def test_the_fast_construction_is_model_construct() -> None:
    """``ExecutionDetails.constructed`` skips model_construct's default lookups (every default is None)."""
    values = {"trains": ["model/m"], "timeout_s": 60.0, "secrets": {"A": {}}}
    fast, slow = ExecutionDetails.constructed(values), ExecutionDetails.model_construct(**values)
    assert fast == slow and fast.model_fields_set == slow.model_fields_set
    assert (
        fast.model_dump_json() == slow.model_dump_json() == '{"trains":["model/m"],"timeout_s":60.0,"secrets":{"A":{}}}'
    )
    assert all(f.default is None for f in ExecutionDetails.model_fields.values())
