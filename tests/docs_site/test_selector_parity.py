"""The search box's selectors mean what the CLI's mean: the same sets, and errors for the same input.

Every case runs through ``compiler/graph/selectors.py`` and through ``selectors.js`` in Chromium on a
site of the assistant platform with a change against its base (so ``state:`` has something to compare
with). Cases of dbt's grammar (``@``, aliases, ``state:new``, dbt's ``path:``, ``--exclude``, "matches
nothing" as an error) run where the Python engine has it (``selection``); the shared ones always run.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.compiler.graph import selectors
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.docs_site.generate import generate
from modelplane.errors import SelectorError
from modelplane.specs.base import NodeId
from modelplane.workspace import Workspace
from tests.conftest import GitProject
from tests.docs_site.conftest import open_site

pytestmark = pytest.mark.integration

DBT_GRAMMAR = hasattr(selectors, "selection")

SHARED = [
    "grammar-llm",
    "model/grammar-llm",
    "model/grammar-llm+",
    "+feature/user-writing-profile",
    "2+model/grammar-llm",
    "model/grammar-llm+1",
    "1+model/grammar-llm+1",
    "+endpoint/grammar-prod+",
    "0+model/grammar-llm",
    "kind:endpoint",
    "kind:Model",
    "owner:team-grammar*",
    "owner:team-?inguistics",
    "label:family=grammar",
    "label:domain",
    "label:pii=true",
    "path:specs/ml/models.yaml",
    "model/grammar-*",
    "*-prod",
    "grammar-[ls]*",
    "kind:model,owner:team-grammar-ml",
    "kind:endpoint kind:service",
    "kind:model,+endpoint/grammar-prod",
    "name:grammar-llm",
    "state:modified",
    "state:modified+",
    "+state:modified,kind:dataset",
    # errors in both
    "kind:datset",
    "bogus:x",
    "",
    "   ",
    "a++b",
    "model/nope",
    "nope",
    "state:unknown",
]
DBT_ONLY = [
    "@dataset/grammar-train",
    "@model/grammar-llm",
    "resource_type:endpoint",
    "tag:domain=grammar",
    "tag:dom*",
    "label:family=gram*",
    "path:specs/ml",
    "path:specs/*",
    "path:specs/**/*.yaml",
    "path:specs/m",
    "state:new",
    "state:modified.body",
    "state:modified.configs",
    "state:modified.contract",
    "model/nomatch*",
    "kind:model,kind:endpoint",
    "datset/x",
    "kind:",
    "a,,b",
    "@model/grammar-llm+",
    "state:modified.macros",
    "kind:model --exclude model/grammar-small",
    "kind:endpoint --exclude +model/grammar-llm+",
    "model/grammar-llm+ --exclude kind:service kind:evaluation",
]


def python_side(graph: LineageGraph, expression: str, changes: dict[NodeId, Any]) -> dict[str, Any]:
    main, _, exclude = expression.partition("--exclude")
    try:
        if DBT_GRAMMAR:
            nodes = selectors.selection(  # type: ignore[attr-defined]
                graph, main, changes, exclude if "--exclude" in expression else None
            ).nodes
        else:
            nodes = selectors.select(graph, main, set(changes))
    except SelectorError as exc:
        return {"error": str(exc)}
    return {"ids": sorted(str(n) for n in nodes)}


@pytest.fixture(scope="module")
def changed_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[LineageGraph, Any, dict[NodeId, Any]]:
    import shutil

    from tests.conftest import EXAMPLES

    root = tmp_path_factory.mktemp("parity") / "assistant-platform"
    shutil.copytree(EXAMPLES / "assistant-platform", root, ignore=shutil.ignore_patterns(".modelplane"))
    gp = GitProject(root)
    gp.git("init", "-q", "-b", "main")
    gp.commit("base")
    gp.edit("specs/ml/models.yaml", 'version: "3.2.0"', 'version: "3.3.0"')
    gp.edit("specs/ml/models.yaml", "owner: team-grammar-ml", "owner: team-grammar-ml2")  # a metadata change too
    gp.commit("change")
    ws = Workspace(root, "prod")
    site = root.parent / "site"
    generate(ws, site, base="HEAD~1")
    plan = ws.plan("HEAD~1", allow_breaking=True).plan
    changes = {NodeId.parse(c.id): c for c in plan.changes}
    return ws.compile().graph, site, changes


CASES = SHARED + (DBT_ONLY if DBT_GRAMMAR else [])


def test_every_case_selects_the_same_in_the_cli_and_the_browser(
    page: Any, changed_site: tuple[LineageGraph, Any, dict[NodeId, Any]]
) -> None:
    graph, site, changes = changed_site
    assert changes, "the fixture's change must give state: something to select"
    open_site(page, site)
    differ = []
    for case in CASES:
        want = python_side(graph, case, changes)
        got = page.evaluate("(q) => MP.select(q)", case)
        if ("error" in want) != ("error" in got) or want.get("ids") != got.get("ids"):
            differ.append(f"{case!r}: CLI {want} browser {got}")
    assert differ == [], "\n".join(differ)
    assert sum("ids" in python_side(graph, c, changes) for c in CASES) > len(CASES) / 2  # mostly real selections


def test_the_cases_cover_both_answers(changed_site: tuple[LineageGraph, Any, dict[NodeId, Any]]) -> None:
    graph, _, changes = changed_site
    answers = [python_side(graph, c, changes) for c in SHARED]
    assert sum("error" in a for a in answers) >= 6 and sum(bool(a.get("ids")) for a in answers) >= 20


def test_a_selector_error_in_the_search_box_says_what_is_wrong(
    page: Any, changed_site: tuple[LineageGraph, Any, dict[NodeId, Any]]
) -> None:
    _, site, _ = changed_site
    open_site(page, site)
    page.locator("#search").press_sequentially("bogus:x")
    status = page.locator("#search-status").inner_text()
    assert "unknown selector method `bogus:`" in status and "methods:" in status
