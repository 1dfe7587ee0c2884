"""Property: a field left out means its default, in every stage that reads it.

Hypothesis draws, for one small project of every kind, documents in which each
field that has a default is left out, written out with its default (booleans
in any accepted spelling), or (for a nested model) written with some of its own
fields left out, at every depth. Whatever was drawn, the compiler must see the
same project: each node's normalized document equals the model's defaults, the
graph gates the endpoint on the evaluation (``blocking`` defaults to true), the
GPU-fit check uses the default dtype and GPUs per replica, impact and plan
re-run the workflow when its input changes (``retrain_on_change`` defaults to
true) and hold the rollout for the evaluation, and an endpoint without
``rollout`` gets the default canary steps.
"""

from __future__ import annotations

import tempfile
import typing
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from modelplane.compiler.change.state import AppliedNode, AppliedState
from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.compiler.load.validate import _models_in
from modelplane.specs.accelerators import ACCELERATORS, WEIGHT_SHARE
from modelplane.specs.base import NodeId, normalize, normalized_json
from modelplane.specs.kinds import KIND_MODELS
from modelplane.specs.models import weight_gib
from modelplane.specs.serving import Rollout
from tests.conftest import MINIMAL_PROJECT


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "modelplane/v1", "kind": kind, "metadata": {"name": name, "owner": "team"}, "spec": spec}


def minimal_documents(parameters_b: float) -> list[dict[str, Any]]:
    """One document of every kind with only its required fields."""
    return [
        _doc(
            "Dataset",
            "d",
            {"uri": "s3://d", "format": "parquet", "schema": {"columns": [{"name": "id", "type": "string"}]}},
        ),
        _doc(
            "Feature",
            "f",
            {
                "inputs": [{"dataset": "d", "columns": ["id"]}],
                "entity": "id",
                "columns": [{"name": "id", "type": "string"}],
            },
        ),
        _doc("Workflow", "w", {"inputs": ["dataset/d"], "outputs": ["model/m"], "command": ["train"]}),
        _doc("Model", "m", {"version": "1", "artifact": "s3://m", "parameters_b": parameters_b}),
        _doc(
            "Evaluation",
            "e",
            {"model": "m", "dataset": "d", "metrics": [{"name": "acc", "min": 0.5}], "command": ["eval"]},
        ),
        _doc("Stack", "s", {"provider": "local"}),
        _doc(
            "Endpoint",
            "ep",
            {
                "model": "m",
                "stack": "s",
                "resources": {"accelerator": "L4"},
                "traffic": {"qps": 5},
                "slo": {"p99_latency_ms": 1000},
                "autoscaling": {"min_replicas": 1, "max_replicas": 2},
            },
        ),
        _doc("Service", "svc", {"consumes": ["endpoint/ep"], "tier": 1}),
    ]


BOOL_SPELLINGS = {True: ["true", "yes", "Yes", "ON", "on", "TRUE"], False: ["false", "no", "No", "OFF", "off"]}


def _one_model(annotation: Any) -> type[BaseModel] | None:
    models = list(_models_in(annotation))
    return models[0] if len(models) == 1 else None


def _own_default(field: FieldInfo) -> Any:
    value = field.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, BaseModel):
        return normalize(value)
    if isinstance(value, list):
        return [normalize(v) if isinstance(v, BaseModel) else v for v in value]
    return value


@st.composite
def written(draw: st.DrawFn, model: type[BaseModel], full: Any, given: Any) -> Any:
    """``full`` (a normalized value of ``model``) as someone might write it: every field the
    minimal document ``given`` did not set (so holding its default) left out or spelled out."""
    if isinstance(full, list):
        givens = given if isinstance(given, list) else [None] * len(full)
        return [draw(written(model, item, g)) for item, g in zip(full, givens, strict=True)]
    given = given if isinstance(given, dict) else {}
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = full[key]
        nested = _one_model(field.annotation)
        # a field may be left out only where that means the value it has: inside a default
        # such as scale_down (15m, 10%, 60s), a field's own default can differ from it
        optional = key not in given and not field.is_required() and _own_default(field) == value
        how = draw(st.sampled_from(["omit", "keep", "recurse"])) if optional else "keep"
        if how == "omit":
            continue
        if nested is not None and isinstance(value, (dict, list)) and (how == "recurse" or key in given):
            out[key] = draw(written(nested, value, given.get(key)))
        elif isinstance(value, bool):
            out[key] = draw(st.sampled_from([value, *BOOL_SPELLINGS[value]]))
        else:
            out[key] = value
    return out


class _State:
    def __init__(self, applied: AppliedState) -> None:
        self._applied = applied

    def applied(self, environment: str) -> AppliedState:
        return self._applied


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking a compile takes minutes; a failure prints its draws
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), parameters_b=st.sampled_from([1.0, 8.0, 11.0, 12.0, 30.0]))
def test_left_out_fields_mean_their_defaults_everywhere(data: st.DataObject, parameters_b: float) -> None:
    minimal = minimal_documents(parameters_b)
    full = {d["metadata"]["name"]: normalize(KIND_MODELS[d["kind"]].model_validate(d)) for d in minimal}
    docs = [data.draw(written(KIND_MODELS[d["kind"]], full[d["metadata"]["name"]], d)) for d in minimal]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "modelplane.yaml").write_text(MINIMAL_PROJECT)
        (root / "specs").mkdir()
        # JSON is YAML; a `yes` drawn here reaches the loader as the string YAML 1.2 reads it as
        (root / "specs" / "all.yaml").write_bytes(b"\n---\n".join(orjson.dumps(d) for d in docs))
        compiled = compile_graph(root, use_cache=False, strict=False)
        graph = compiled.graph

        # one normalized value per document, whatever was left out or spelled out
        for nid, node in graph.nodes.items():
            assert node.data == full[nid.name], nid
            assert normalize(node.model) == full[nid.name], nid
            # the loader keeps the serializer's JSON parsed back: the same value as normalize's
            assert orjson.loads(normalized_json(node.model)) == normalize(node.model), nid
            # a cached node builds its model from the normalized document: that must round-trip
            assert normalize(KIND_MODELS[node.kind].model_validate(node.data)) == node.data, nid

        # graph: an evaluation without `blocking` (or with a spelling of true) gates the endpoint
        assert [(str(e.source), str(e.target)) for e in graph.edges if e.kind == "gates"] == [
            ("evaluation/e", "endpoint/ep")
        ]
        # checks: GPU fit at the default dtype (bf16) and the default 1 GPU per replica
        budget = ACCELERATORS["L4"].memory_gib * 1 * WEIGHT_SHARE
        expect_fit_error = weight_gib(parameters_b, "bf16") > budget
        assert [d.code for d in compiled.errors] == (["gpu-fit"] if expect_fit_error else [])
        if expect_fit_error:
            return  # plan refuses a project with errors; the rest is about a valid one
        # the endpoint's rollout is the default canary
        rollout = graph.nodes[NodeId("endpoint", "ep")].spec["rollout"]
        assert rollout == normalize(Rollout())
        assert [s["weight"] for s in rollout["steps"]] == [5, 25, 50, 100]
        assert typing.cast(Any, graph.nodes[NodeId("endpoint", "ep")].model).spec.rollout == Rollout()

        # impact and plan: the dataset changed since the applied state
        applied = {
            str(nid): AppliedNode(node.kind, node.file, node.index, node.data) for nid, node in graph.nodes.items()
        }
        changed = dict(full["d"], spec={**full["d"]["spec"], "uri": "s3://d-v2"})
        applied["dataset/d"] = AppliedNode("Dataset", applied["dataset/d"].file, applied["dataset/d"].index, changed)
        planned = make_plan(root, state=_State(AppliedState(serial=1, nodes=applied)), use_cache=False)
        impact = {a.id: a.category for a in planned.plan.impact}
        assert impact["workflow/w"] == "retrain-required"  # retrain_on_change defaults to true
        actions = {a.id: a for a in planned.plan.actions}
        assert "run-workflow:workflow/w" in actions
        assert [c.id for c in planned.plan.changes] == ["dataset/d"]
