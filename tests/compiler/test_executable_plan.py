"""The saved plan carries what apply executes, and the runtime reads typed values from it.

- for random valid endpoints with the optional sections left out, what the
  rollout workflow uses (steps, window, limits, replicas, on_failure) is the
  spec model's defaults (before: an endpoint without `rollout:` was cut over
  0 -> 100%);
- applying a saved plan compiles nothing (before: apply compiled the working
  tree again, and the Pulumi activity once more);
- the Pulumi program built from the plan deploys what the renderer renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.compiler.plan.execution import executable
from modelplane.compiler.plan.model import PLAN_FORMAT_VERSION, Plan, plan_schema
from modelplane.runtime.apply import apply_input, load_plan_file
from modelplane.runtime.settings import settings_for
from modelplane.runtime.typed import rollout_policy
from modelplane.specs.base import NodeId
from modelplane.specs.common import duration_seconds
from modelplane.specs.serving import Analysis, Rollout
from modelplane.stacks.engine import vllm_args
from tests.conftest import EXAMPLES

NAMES = st.from_regex(r"^[a-z][a-z0-9-]{0,20}$", fullmatch=True)


@st.composite
def endpoints(draw: st.DrawFn) -> dict[str, Any]:
    """Valid Endpoint documents with rollout, analysis and every other optional section left out."""
    lo = draw(st.integers(0, 50))
    spec: dict[str, Any] = {
        "model": draw(NAMES),
        "stack": draw(NAMES),
        "resources": {"accelerator": draw(st.sampled_from(["L4", "H100", "A100"]))},
        "traffic": {"qps": draw(st.floats(0.1, 1e6))},
        "slo": {"p99_latency_ms": draw(st.floats(1, 1e5))},
        "autoscaling": {"min_replicas": lo, "max_replicas": draw(st.integers(max(lo, 1), 100))},
    }
    if draw(st.booleans()):
        spec["engine"] = {"simulator": {"ttft_ms": draw(st.floats(0, 100))}}
    return {
        "apiVersion": "modelplane/v1",
        "kind": "Endpoint",
        "metadata": {"name": draw(NAMES), "owner": "team"},
        "spec": spec,
    }


@settings(max_examples=60, deadline=None)
@given(endpoints())
def test_a_rollout_left_out_is_the_models_default_canary(doc: dict[str, Any]) -> None:
    policy = rollout_policy(doc)  # what EndpointRollout reads
    defaults = Rollout()
    assert [s.weight for s in policy.steps] == [5, 25, 50, 100] == [s.weight for s in defaults.steps]
    assert list(policy.steps) == defaults.steps
    assert policy.window_s == duration_seconds(Analysis().window) == 60
    assert policy.inconclusive_limit == Analysis().inconclusive_limit
    assert policy.on_failure == defaults.on_failure == "rollback"
    assert policy.min_replicas == max(1, doc["spec"]["autoscaling"]["min_replicas"])


def _saved_plan(tmp_path: Path, env: str) -> Path:
    result = make_plan(EXAMPLES / "assistant-platform", env, use_cache=False)
    path = tmp_path / "plan.json"
    path.write_text(executable(result.plan, result.head.graph, result.base).model_dump_json())
    return path


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("apply compiled the specs")

    for target in ("modelplane.compiler.compile.compile_graph", "modelplane.compiler.compile.make_plan",
                   "modelplane.compiler.load.loader.load", "modelplane.runtime.apply.make_plan"):  # fmt: skip
        monkeypatch.setattr(target, refuse)


def test_applying_a_saved_plan_compiles_nothing_and_the_pulumi_program_comes_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pulumi_kubernetes")
    from modelplane.runtime.provisioners.pulumi import rendered
    from modelplane.stacks.render import render_stack

    graph = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph
    engine_args = {
        str(ep.id): vllm_args(ep.data, graph.nodes[NodeId("model", ep.spec["model"])].data)
        for ep in graph.iter_kind("Endpoint")
    }
    path = _saved_plan(tmp_path, "prod")
    _no_compiling(monkeypatch)
    plan = load_plan_file(path)
    inp = apply_input(plan, settings_for(EXAMPLES / "assistant-platform", "prod"), 8, True)
    assert len(inp.actions) == len(plan.actions) and inp.records
    stacks = {a.details.stack: a.stack for a in inp.actions if a.stack is not None}
    assert {"prod-gpu", "staging-gpu"} <= set(stacks)
    for name, inputs in stacks.items():
        from modelplane.compiler.plan.model import StackInputs

        if inputs["provider"] == "local":
            continue
        built = rendered(StackInputs.model_validate(inputs), {})
        expected = render_stack(graph, name)  # compiled before the patch: what `stack preview` shows
        key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
        assert sorted(built.objects, key=key) == sorted(expected.objects, key=key)
    for a in inp.actions:  # the rendered `vllm serve` arguments travel with each endpoint action
        if a.target.startswith("endpoint/") and a.type != "decommission":
            assert a.details.engine_args == engine_args[a.target.split("@")[0]]


def test_plan_documents_are_normalized_and_typed_at_runtime(tmp_path: Path) -> None:
    plan = load_plan_file(_saved_plan(tmp_path, "dev"))
    assert plan.format_version == PLAN_FORMAT_VERSION == 2
    assert plan.execution is not None
    for a in plan.execution.actions:
        if a.node is not None and a.node["kind"] == "Endpoint":
            assert "rollout" in a.node["spec"] and "routing" in a.node["spec"]  # defaults filled in
            assert rollout_policy(a.node).steps
    schema = plan_schema()
    assert "execution" in schema["properties"] and "Execution" in schema["$defs"]
    assert schema["title"].endswith("(format_version 2)")


def test_a_report_is_not_an_executable_plan(tmp_path: Path) -> None:
    from modelplane.errors import PlanError

    result = make_plan(EXAMPLES / "assistant-platform", "dev", use_cache=False)
    path = tmp_path / "report.json"
    path.write_text(result.plan.model_dump_json())  # what `plan --format json` prints: no execution part
    with pytest.raises(PlanError) as exc:
        load_plan_file(path)
    assert "no `execution` part" in str(exc.value) and "plan --out" in (exc.value.diagnostics[0].hint or "")
    assert Plan.model_validate_json(path.read_text()).execution is None


async def test_an_evaluation_that_is_not_blocking_does_not_gate(tmp_path: Path) -> None:
    """Typed: the executor reads `blocking` and `timeout` from the model, not the YAML as written."""
    from modelplane.runtime.executors import Context
    from modelplane.runtime.executors.command import evaluate
    from modelplane.runtime.temporal.messages import ActionSpec

    node = {
        "apiVersion": "modelplane/v1",
        "kind": "Evaluation",
        "metadata": {"name": "q", "owner": "t"},
        "spec": {"model": "m", "dataset": "d", "metrics": [{"name": "acc", "min": 0.5}], "blocking": False,
                 "command": ["python3", "-c", "import json,os; json.dump({'acc': 0.1}, open(os.environ['MODELPLANE_METRICS_FILE'],'w'))"]},
    }  # fmt: skip
    ctx = Context(root=tmp_path, environment="dev", apply_id="a", key="k", attempt=1, run_dir=tmp_path / "run")
    ctx.run_dir.mkdir()
    effect = await evaluate(
        ctx, ActionSpec(id="evaluate:evaluation/q", type="evaluate", target="evaluation/q", node=node)
    )
    assert effect.output["blocking"] is False and effect.output["failed"] == ["acc=0.1 below min 0.5"]
