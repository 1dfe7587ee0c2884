"""In place vs new revision: every Endpoint field is classified in one place, the revision id hashes only the
revision fields, and a plan that changes only in-place fields says "in place" (text, markdown, JSON)."""

from __future__ import annotations

from collections.abc import Callable

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.payloads import RolloutDetails
from modelplane.compiler.report.markdown import render as render_markdown
from modelplane.compiler.report.text import render as render_text
from modelplane.specs.endpoint_fields import ENDPOINT_FIELDS, effect_of
from modelplane.specs.serving import EndpointSpec
from modelplane.stacks.engine import revision_id
from tests.conftest import GitProject

PROD = "prod"


def test_every_endpoint_field_is_classified() -> None:
    assert set(ENDPOINT_FIELDS) == set(EndpointSpec.model_fields)
    assert effect_of("spec.autoscaling.max_replicas") == "in place"
    assert effect_of("spec.rollout.steps[0].pause") == "in place"
    assert effect_of("spec.engine.image") == "revision"
    assert effect_of("metadata.labels.team") == "in place"


def test_revision_id_ignores_in_place_fields() -> None:
    model = {"spec": {"version": "1"}}
    ep = {"spec": {"model": "m", "engine": {"image": "a"}, "autoscaling": {"max_replicas": 2}}}
    same = {"spec": {**ep["spec"], "autoscaling": {"max_replicas": 9}, "rollout": {"steps": []}}}
    other = {"spec": {**ep["spec"], "engine": {"image": "b"}}}
    assert revision_id(ep, model) == revision_id(same, model)
    assert revision_id(ep, model) != revision_id(other, model)
    assert revision_id(ep, model) != revision_id(ep, {"spec": {"version": "2"}})


def test_raising_max_replicas_plans_an_in_place_update(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("assistant-platform")
    old = "autoscaling: {min_replicas: 1, max_replicas: 4}"
    gp.edit("specs/serving/endpoints.yaml", old, old.replace("4}", "6}"))
    gp.commit("raise max_replicas")
    result = make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False)
    [rollout] = [a for a in result.plan.actions if a.type == "rollout"]
    assert isinstance(rollout.details, RolloutDetails) and rollout.details.in_place is True
    assert "changes in place (autoscaling.max_replicas)" in rollout.reason and "no new replicas" in rollout.reason
    assert "in place" in render_text(result.plan)
    assert "in place" in render_markdown(result.plan, result.head.graph, result.base)
    assert '"in_place":true' in result.plan.model_dump_json()
