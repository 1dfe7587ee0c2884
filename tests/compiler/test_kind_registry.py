"""One module per kind: a kind is one declaration and one registration, and the registry refuses an incomplete one.

The toy kind ``Gadget`` below is everything a new kind needs: its model (with its references), and its
``KindDecl``; once registered, a project using it compiles, diffs and shows its impact downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from modelplane.compiler.change.impact import RULES, rules_table
from modelplane.compiler.compile import make_plan
from modelplane.compiler.load.secrets import allowed, credentials
from modelplane.specs.base import KIND_ORDER, ApiVersion, Metadata, StrictModel
from modelplane.specs.enums import EdgeKind, Kind
from modelplane.specs.kinds import registry
from modelplane.specs.kinds.facets import (
    DiffRules,
    GraphShape,
    ImpactRules,
    KindDecl,
    PlanRules,
    Reference,
    Rule,
    SecretField,
    sends,
)
from modelplane.specs.refs import RefTo
from tests.conftest import GitProject

# -- the toy kind: a model, and one declaration ------------------------------------------------------------------


class GadgetSpec(StrictModel):
    inputs: list[Annotated[str, RefTo(("dataset", "gadget"), edge="feeds", qualified=True)]] = Field(
        default_factory=list
    )
    size: int = 1
    endpoint_url: str = ""


class Gadget(StrictModel):
    apiVersion: ApiVersion
    kind: Literal["Gadget"]
    metadata: Metadata
    spec: GadgetSpec


_FED = Rule("notify", "{node} is fed changed data", "data")

GADGET = KindDecl(
    name="Gadget",
    model=Gadget,
    references=(Reference("spec.inputs[*]", ("dataset", "gadget"), "feeds"),),
    impact=ImpactRules(own=sends("data"), receives={("data", "feeds"): _FED, ("schema", "feeds"): _FED}),
    diff=DiffRules(replace_on=("spec.size",)),
    catalog=True,
    secrets=(SecretField(("endpoint_url",), "value"),),
    graph=GraphShape(dot="hexagon"),
    plan=PlanRules(on_delete=("decommission",)),
)


@pytest.fixture
def gadget() -> Iterator[None]:
    with registry.registered(GADGET):
        yield


PROJECT = "name: toy\nspecs: ['specs/**/*.yaml']\nenvironments:\n  dev: {}\n"
SPECS = """\
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: raw, owner: data-team}
spec:
  uri: s3://bucket/raw
  format: parquet
  schema:
    columns:
      - {name: id, type: string}
---
apiVersion: modelplane/v1
kind: Gadget
metadata: {name: first, owner: gadget-team}
spec:
  inputs: [dataset/raw]
  size: 2
---
apiVersion: modelplane/v1
kind: Gadget
metadata: {name: second, owner: other-team}
spec:
  inputs: [gadget/first]
"""


def _project(tmp_path: Path) -> GitProject:
    root = tmp_path / "toy"
    (root / "specs").mkdir(parents=True)
    (root / "modelplane.yaml").write_text(PROJECT)
    (root / "specs/all.yaml").write_text(SPECS)
    gp = GitProject(root)
    gp.git("init", "-q", "-b", "main")
    gp.commit("base")
    return gp


def _impact(plan: Any) -> dict[str, tuple[str, list[str]]]:
    return {i.id: (i.category, i.reasons) for i in plan.impact}


def test_a_registered_toy_kind_compiles_diffs_and_shows_impact_downstream(gadget: None, tmp_path: Path) -> None:
    gp = _project(tmp_path)
    # the dataset's data changes: the first gadget is fed it, and passes it on to the second
    gp.edit("specs/all.yaml", "uri: s3://bucket/raw", "uri: s3://bucket/raw-v2")
    gp.commit("move the data")
    plan = make_plan(gp.root, "dev", base_ref="HEAD~1", use_cache=False).plan
    assert not [d for d in plan.diagnostics if d.severity == "error"]
    impact = _impact(plan)
    assert impact["gadget/first"][0] == "notify"
    assert impact["gadget/first"][1][-1] == "gadget/first is fed changed data"
    assert impact["gadget/second"] == (
        "notify",
        ["dataset/raw changed spec.uri", "gadget/first is fed changed data", "gadget/second is fed changed data"],
    )
    # a gadget's own change: diffed by its rules (size is replace-only), its own signal reaches the second
    gp.edit("specs/all.yaml", "size: 2", "size: 3")
    gp.commit("resize")
    plan = make_plan(gp.root, "dev", base_ref="HEAD~1", use_cache=False).plan
    changes = {c.id: c for c in plan.changes}
    assert changes["gadget/first"].change == "replace"
    assert [f.path for f in changes["gadget/first"].fields] == ["spec.size"]
    assert _impact(plan)["gadget/second"][0] == "notify"
    # it is a catalog kind: its change registers it
    assert "register:gadget/first" in {a.id for a in plan.actions}


def test_a_registered_toy_kind_brings_its_secret_fields_and_graph_shape(gadget: None, tmp_path: Path) -> None:
    assert allowed("Gadget", ("spec", "endpoint_url"))
    assert not allowed("Gadget", ("spec", "inputs", 0))
    found = list(credentials("Gadget", {"endpoint_url": "https://me:hunter2@example.com/x"}))
    assert [(c.path, c.literal) for c in found] == [(("spec", "endpoint_url"), "hunter2")]
    from modelplane.compiler.compile import compile_graph
    from modelplane.compiler.report.graph import dot

    graph = compile_graph(_project(tmp_path).root, "dev", use_cache=False).graph
    assert '"gadget/first" [shape=hexagon];' in dot(graph)


def test_the_toy_kind_is_gone_once_unregistered() -> None:
    with registry.registered(GADGET):
        assert "Gadget" in registry.names()
        assert ("data", "feeds", "Gadget") in registry.impact_rules()
    assert "Gadget" not in registry.names()
    assert registry.impact_rules() == RULES


# -- the registry refuses an incomplete kind ------------------------------------------------------------------------


def test_a_kind_without_impact_signals_is_refused_naming_what_is_missing() -> None:
    incomplete = KindDecl(
        name="Widget",
        model=Gadget,
        references=GADGET.references,
        diff=DiffRules(),
        catalog=False,
        secrets=(),
        graph=GraphShape(dot="box"),
    )
    assert registry.missing(incomplete) == ["impact"]
    with pytest.raises(registry.IncompleteKind, match=r"Widget: no `impact` facet"):
        registry.register(incomplete)
    assert "Widget" not in registry.names()


def test_a_kind_with_no_rule_for_what_arrives_along_its_references_is_refused() -> None:
    from dataclasses import replace

    deaf = replace(GADGET, impact=ImpactRules(own=sends("data"), receives={}))
    with pytest.raises(registry.IncompleteKind, match=r"Gadget: no impact rule for what arrives along `feeds`"):
        registry.register(deaf)
    assert "Gadget" not in registry.names()


class PumpSpec(StrictModel):
    fills: list[Annotated[str, RefTo(("gadget",), edge="output", direction="downstream", qualified=True)]]


class Pump(StrictModel):
    apiVersion: ApiVersion
    kind: Literal["Pump"]
    metadata: Metadata
    spec: PumpSpec


def test_the_check_names_a_kind_that_receives_nothing_along_an_edge_another_kind_writes_to_it(gadget: None) -> None:
    from dataclasses import replace

    pump = replace(GADGET, name="Pump", model=Pump, references=(Reference("spec.fills[*]", ("gadget",), "output"),))
    with registry.registered(pump):
        assert registry.check_all() == ["Gadget: no impact rule for what arrives along `output` from Pump"]


@pytest.mark.parametrize("facet", ["model", "references", "impact", "diff", "catalog", "secrets", "graph"])
def test_every_required_facet_is_named_when_missing(facet: str) -> None:
    from dataclasses import replace

    lacking = replace(GADGET, **{facet: None})
    with pytest.raises(registry.IncompleteKind) as raised:
        registry.register(lacking)
    assert f"Gadget: no `{facet}` facet" in str(raised.value)
    assert "Gadget" not in registry.names()


def test_references_that_disagree_with_the_model_are_refused() -> None:
    from dataclasses import replace

    wrong = replace(GADGET, references=(Reference("spec.inputs[*]", ("dataset",), "feeds"),))
    with pytest.raises(registry.IncompleteKind) as raised:
        registry.register(wrong)
    message = str(raised.value)
    assert "the model references spec.inputs[*] (feeds), the kind does not declare it" in message
    assert "the kind declares spec.inputs[*] (feeds), the model has no such reference" in message


# -- the real kinds -------------------------------------------------------------------------------------------------


def test_the_registry_check_passes_over_the_real_kinds() -> None:
    assert registry.check_all() == []
    assert registry.names() == KIND_ORDER == tuple(Kind)


def test_every_edge_a_real_kind_declares_is_an_edge_kind() -> None:
    used = {str(r.edge) for e in registry.entries() for r in e.references}
    assert used <= {e.value for e in EdgeKind}
    received = {edge for _, edge, _ in RULES}
    assert received <= {e.value for e in EdgeKind}
    # every declared edge but `output` (written on its source) arrives at a kind that has a rule for it
    assert used - {EdgeKind.OUTPUT} <= received


def test_the_kind_enum_keeps_documents_plain_strings() -> None:
    import json

    assert Kind.DATASET == "Dataset" and json.dumps({"kind": Kind.DATASET}) == '{"kind": "Dataset"}'
    assert f"{EdgeKind.TRAINED_ON}" == "trained_on"
    assert Kind.ENDPOINT.id_kind == "endpoint"


def test_the_readme_table_is_built_from_the_kinds() -> None:
    table: Callable[[], str] = rules_table
    assert "| model | `serves` | Endpoint | rollout-required | serving |" in table()
