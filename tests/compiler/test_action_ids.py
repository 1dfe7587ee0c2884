"""Typed action ids: every id a plan makes parses, and prints back as written."""

from __future__ import annotations

import pytest

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.ids import ActionId, Target
from modelplane.specs.base import NodeId
from tests.conftest import EXAMPLES


def test_parts_of_a_decommission_off_a_stack() -> None:
    aid = ActionId.parse("decommission:endpoint/chat@stack/old-gpu")
    assert aid == ActionId("decommission", Target(NodeId("endpoint", "chat"), NodeId("stack", "old-gpu")))
    assert str(aid) == "decommission:endpoint/chat@stack/old-gpu"
    assert ActionId.parse("notify:owner/team-ml").target == Target(NodeId("owner", "team-ml"))
    assert ActionId.type_of("rollout:endpoint/chat") == "rollout"


@pytest.mark.parametrize("bad", ["rollout", ":endpoint/x", "rollout:endpoint", "rollout:endpoint/x@stack"])
def test_malformed_ids_are_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        ActionId.parse(bad)


def test_every_id_of_a_real_plan_round_trips() -> None:
    plan = make_plan(EXAMPLES / "assistant-platform", "prod", use_cache=False).plan
    assert len(plan.actions) > 50
    for a in plan.actions:
        parsed = ActionId.parse(a.id)
        assert str(parsed) == a.id and parsed.type == a.type and str(a.target_id) == a.target
        assert all(str(ActionId.parse(d)) == d for d in a.depends_on)
