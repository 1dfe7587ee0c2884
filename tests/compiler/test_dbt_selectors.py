"""The selector grammar against dbt's own cases (the ones specs can express), and every way a
selection can match nothing: an error naming the part, or (for ``state:``) a warning, never a
silent empty set."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.compile import compile_graph
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.graph.selectors import path_matches, selection
from modelplane.errors import SelectorError
from modelplane.specs.base import NodeId
from tests.conftest import EXAMPLES

N = NodeId.parse


@pytest.fixture(scope="module")
def graph() -> LineageGraph:
    return compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph


def ids(nodes: set[NodeId]) -> list[str]:
    return sorted(str(n) for n in nodes)


def _of(g: LineageGraph, file_prefix: str) -> set[NodeId]:
    return {n for n, node in g.nodes.items() if node.file.startswith(file_prefix)}


def _at(g: LineageGraph, start: set[NodeId]) -> set[NodeId]:
    down = start | g.downstream(start)
    return down | g.upstream(down)


Oracle = Callable[[LineageGraph], set[NodeId]]
TM = {N("model/tone-classifier")}
GL = {N("model/grammar-llm")}

# (dbt case, --select, --exclude, expected as graph primitives compute it)
TABLE: list[tuple[str, str | None, str | None, Oracle]] = [
    ("bare name", "tone-classifier", None, lambda g: {N("model/tone-classifier")}),
    ("descendants x+", "model/tone-classifier+", None, lambda g: TM | g.downstream(TM)),
    ("ancestors +x", "+model/tone-classifier", None, lambda g: TM | g.upstream(TM)),
    ("both +x+", "+model/tone-classifier+", None, lambda g: TM | g.upstream(TM) | g.downstream(TM)),
    ("depth 1+x", "1+model/grammar-llm", None, lambda g: GL | g.upstream(GL, 1)),
    ("depth x+1", "model/grammar-llm+1", None, lambda g: GL | g.downstream(GL, 1)),
    ("@ children's parents", "@model/tone-classifier", None, lambda g: _at(g, TM)),
    ("union a b", "tone-prod rewrite-prod", None, lambda g: {N("endpoint/tone-prod"), N("endpoint/rewrite-prod")}),
    (
        "intersection a,b",
        "kind:endpoint,label:tier=1",
        None,
        lambda g: {N("endpoint/rewrite-prod"), N("endpoint/tone-prod")},
    ),
    ("resource_type: = kind:", "resource_type:stack", None, lambda g: set(_kind(g, "stack"))),
    ("tag: = label:", "tag:split=train", None, lambda g: {n for n in g.nodes if _label(g, n, "split") == "train"}),
    ("tag: by key", "tag:split", None, lambda g: {n for n in g.nodes if _label(g, n, "split") is not None}),
    ("label glob", "label:spl*=*", None, lambda g: {n for n in g.nodes if _label(g, n, "split") is not None}),
    ("path: folder", "path:specs/data", None, lambda g: _of(g, "specs/data/")),
    ("path: folder/", "path:specs/data/", None, lambda g: _of(g, "specs/data/")),
    ("path: ./folder", "path:./specs/ml", None, lambda g: _of(g, "specs/ml/")),
    ("path: file", "path:specs/services.yaml", None, lambda g: _of(g, "specs/services.yaml")),
    ("path: glob in a folder", "path:specs/*.yaml", None, lambda g: _of(g, "specs/services.yaml")),
    ("path: glob of folders", "path:specs/*", None, lambda g: set(g.nodes)),
    ("path: glob names a folder", "path:specs/d*", None, lambda g: _of(g, "specs/data/")),
    ("path: ** crosses folders", "path:specs/**/raw.yaml", None, lambda g: _of(g, "specs/data/raw.yaml")),
    ("exclude", "kind:endpoint", "label:tier=0", lambda g: set(_kind(g, "endpoint")) - _tier0(g)),
    ("exclude with graph op", "model/tone-classifier+", "kind:service", lambda g: (TM | g.downstream(TM)) - _svc(g)),
    ("exclude alone (plan/graph: everything else)", None, "kind:service", lambda g: set(g.nodes) - _svc(g)),
    ("exclude @", "kind:model", "@model/tone-classifier", lambda g: set(_kind(g, "model")) - _at(g, TM)),
]


def _kind(g: LineageGraph, kind: str) -> set[NodeId]:
    return {n for n in g.nodes if n.kind == kind}


def _label(g: LineageGraph, n: NodeId, key: str) -> object:
    return g.nodes[n].data["metadata"]["labels"].get(key)


def _tier0(g: LineageGraph) -> set[NodeId]:
    return {n for n in g.nodes if str(_label(g, n, "tier")) == "0"}


def _svc(g: LineageGraph) -> set[NodeId]:
    return set(_kind(g, "service"))


@pytest.mark.parametrize(("case", "select", "exclude", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_dbt_selector_table(
    graph: LineageGraph, case: str, select: str | None, exclude: str | None, expected: Oracle
) -> None:
    got = selection(graph, select, None, exclude)
    want = expected(graph)
    assert want, f"{case}: the oracle selects nothing; the case proves nothing"
    assert ids(got.nodes) == ids(want), case
    assert got.warnings == []


@dataclass
class _Field:
    path: str


@dataclass
class _Change:  # the two attributes a selector reads of compiler.change.diff.Change
    change: str
    fields: list[_Field] = field(default_factory=list)


def test_state_new_and_modified_parts(graph: LineageGraph) -> None:
    modified = {
        N("dataset/user-profiles"): _Change("update", [_Field("spec.schema.columns[name=timezone]")]),
        N("model/grammar-llm"): _Change("update", [_Field("spec.version")]),
        N("endpoint/tone-prod"): _Change("update", [_Field("metadata.owner")]),
        N("service/rewrite-button"): _Change("update", [_Field("metadata.description")]),
        N("model/tone-classifier"): _Change("create"),
    }

    def pick(expr: str) -> list[str]:
        return ids(selection(graph, expr, modified).nodes)

    assert pick("state:modified") == sorted(str(n) for n in modified)
    assert pick("state:new") == ["model/tone-classifier"]
    # a new node is modified in every part, as in dbt
    assert pick("state:modified.body") == ["dataset/user-profiles", "model/grammar-llm", "model/tone-classifier"]
    assert pick("state:modified.contract") == ["dataset/user-profiles", "model/tone-classifier"]
    assert pick("state:modified.configs") == ["endpoint/tone-prod", "model/tone-classifier"]
    assert pick("state:modified.persisted_descriptions") == [
        "dataset/user-profiles",
        "model/tone-classifier",
        "service/rewrite-button",
    ]
    assert pick("state:new+") == ids(TM | graph.downstream(TM))
    assert ids(selection(graph, "kind:model", modified, exclude="state:new").nodes) == ids(
        set(_kind(graph, "model")) - TM
    )
    # a plain set of ids (no details) still answers state:modified
    assert ids(selection(graph, "state:modified", set(modified)).nodes) == sorted(str(n) for n in modified)


# every way a selection can come out empty, and what it says
ERRORS: list[tuple[str, str | None, str | None, str, str]] = [
    ("empty selector", "", None, "empty selector", "e.g."),
    ("blank selector", "   ", None, "empty selector", "e.g."),
    ("empty exclude", "kind:model", " ", "empty --exclude", "e.g."),
    ("typo'd kind in kind/name glob", "datset/*", None, "unknown kind `datset`", "did you mean `dataset`?"),
    ("typo'd kind in kind/name", "modle/grammar-llm", None, "unknown kind `modle`", "did you mean `model`?"),
    ("typo'd kind:", "kind:datset", None, "unknown kind `datset`", "did you mean `dataset`?"),
    ("typo'd resource_type:", "resource_type:endpont", None, "unknown kind `endpont`", "did you mean `endpoint`?"),
    ("unknown method", "ownr:team-ml", None, "unknown selector method `ownr:`", "did you mean `owner`?"),
    ("method without a value", "owner:", None, "has no value", "e.g."),
    ("name that matches nothing", "grammar-lm", None, "no node matches `grammar-lm`", "did you mean `grammar-llm`?"),
    ("name glob that matches nothing", "nothing-*", None, "no node matches `nothing-*`", "modelplane graph"),
    ("kind glob that matches nothing", "model/zzz*", None, "no node matches `model/zzz*`", "modelplane graph"),
    ("owner that matches nothing", "owner:zz", None, "no node matches `owner:zz`", "owners: team-"),
    ("owner near a real one", "owner:team-tone-m", None, "no node matches", "did you mean `team-tone-ml`?"),
    ("label glob that matches nothing", "label:tierz*", None, "no node matches `label:tierz*`", "did you mean `tier`?"),
    ("tag that matches nothing", "tag:qqq", None, "no node matches `tag:qqq`", "label keys: `domain`"),
    ("path bare prefix (not part of a name)", "path:specs/da", None, "no node matches `path:specs/da`", "folder"),
    ("path * does not cross folders", "path:specs/*/*/*.yaml", None, "no node matches", "`*` stays in one folder"),
    ("exclude that matches nothing", "kind:model", "kind:model,owner:nobody", "no node matches `owner:nobody`", ""),
    ("disjoint intersection", "kind:model,kind:dataset", None, "no node matches all of them", "a comma intersects"),
    ("empty part around a comma", "kind:model,", None, "empty part around a comma", "a,b"),
    ("a doubled +", "model/grammar-llm++", None, "cannot parse selector `model/grammar-llm++`", "e.g."),
    ("an @ inside a name", "model/grammar@llm", None, "cannot parse selector `model/grammar@llm`", "e.g."),
    ("@ with a trailing +", "@model/grammar-llm+", None, "do not combine", "drop the trailing `+`"),
    ("unknown state", "state:changed", None, "unknown state `changed`", "state:modified"),
    ("unknown state part", "state:modified.bdy", None, "unknown part `bdy`", "did you mean `body`?"),
    ("dbt's macros part", "state:modified.macros", None, "unknown part `macros`", "no counterpart in specs"),
    ("state without a base", "state:modified", None, "needs something to compare with", "--base"),
]


@pytest.mark.parametrize(("case", "select", "exclude", "message", "hint"), ERRORS, ids=[e[0] for e in ERRORS])
def test_every_empty_selection_is_an_error_naming_it(
    graph: LineageGraph, case: str, select: str | None, exclude: str | None, message: str, hint: str
) -> None:
    with pytest.raises(SelectorError) as info:
        selection(graph, select, None, exclude)
    diag = info.value.diagnostics[0]
    assert message in diag.message, case
    assert hint in (diag.hint or ""), (case, diag.hint)


def test_state_selections_that_match_nothing_warn(graph: LineageGraph) -> None:
    nothing: dict[NodeId, _Change] = {}
    got = selection(graph, "state:modified+", nothing)
    assert got.nodes == set() and got.warnings == ["`state:modified+` matches no node: nothing is modified"]
    got = selection(graph, "state:new,kind:model", {N("dataset/user-profiles"): _Change("create")})
    assert got.nodes == set() and "no node matches all of them" in got.warnings[0]
    got = selection(graph, "kind:stack", None, exclude="kind:stack")
    assert got.nodes == set() and "removes every node" in got.warnings[0]


def test_path_matching_follows_dbt() -> None:
    assert path_matches("specs/ml", "specs/ml/models.yaml")
    assert not path_matches("specs/m", "specs/ml/models.yaml")  # a bare prefix is not part of a name
    assert path_matches("specs/*.yaml", "specs/a.yaml") and not path_matches("specs/*.yaml", "specs/ml/a.yaml")
    assert path_matches("specs/**/a.yaml", "specs/ml/x/a.yaml") and path_matches("specs/**/a.yaml", "specs/a.yaml")
    assert path_matches("specs/ml/../ml/a.yaml", "specs/ml/a.yaml")
    assert path_matches("specs/[mn]l", "specs/ml/a.yaml") and not path_matches("specs/[!m]l", "specs/ml/a.yaml")


runner = CliRunner()


def test_cli_exclude_and_errors_exit_as_they_should() -> None:
    root = str(EXAMPLES / "quickstart")
    out = runner.invoke(
        app, ["graph", "-C", root, "--select", "model/tiny-chat+", "--exclude", "kind:service", "-f", "json"]
    )
    assert out.exit_code == 0, out.output
    nodes = {n["id"] for n in json.loads(out.stdout)["nodes"]}
    assert "model/tiny-chat" in nodes and "service/support-bot" not in nodes
    bad = runner.invoke(app, ["graph", "-C", root, "--select", "datset/*"])
    assert bad.exit_code == 1 and "unknown kind `datset`" in bad.output
    empty = runner.invoke(app, ["graph", "-C", root, "--select", ""])
    assert empty.exit_code == 1 and "empty selector" in empty.output
    impact = runner.invoke(app, ["impact", "dataset/*", "-C", root, "--exclude", "dataset/support-pairs", "-f", "json"])
    assert impact.exit_code == 0, impact.output
    assert json.loads(impact.stdout)["changed"] == ["dataset/support-tickets"]  # --exclude narrows what changes


def test_plan_exclude_and_a_state_selection_that_matches_nothing(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "q"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    out = runner.invoke(app, ["plan", "-C", str(root), "--exclude", "kind:service", "-f", "json"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.stdout)
    assert "service/support-bot" not in {c["id"] for c in plan["changes"]}
    assert plan["target"] == "* --exclude kind:service"
    out = runner.invoke(app, ["plan", "-C", str(root), "--select", "state:new", "--exclude", "state:new", "-f", "json"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.stdout)
    assert plan["changes"] == []
    warned = [d for d in plan["diagnostics"] if d["code"] == "selector-matches-nothing"]
    assert warned and "removes every node" in warned[0]["message"]


def test_cli_graph_and_impact_warn_when_exclude_empties_the_selection() -> None:
    root = str(EXAMPLES / "quickstart")
    out = runner.invoke(app, ["graph", "-C", root, "--select", "kind:model", "--exclude", "kind:model", "-f", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["nodes"] == []
    assert "warning[selector-matches-nothing]: --exclude `kind:model` removes every node" in out.stderr
    impact = runner.invoke(app, ["impact", "dataset/*", "-C", root, "--exclude", "kind:dataset", "-f", "json"])
    assert impact.exit_code == 0, impact.output
    assert json.loads(impact.stdout)["changed"] == []
    assert "warning[selector-matches-nothing]: --exclude `kind:dataset` removes every node" in impact.stderr
    typo = runner.invoke(app, ["impact", "dataset/*", "-C", root, "--exclude", "kind:datset"])
    assert typo.exit_code == 1 and "unknown kind `datset`" in typo.output  # an --exclude typo is an error too
