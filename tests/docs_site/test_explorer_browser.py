"""The explorer in a real browser: search, focus and hop depth, a lens, the impact overlay, a node's timeline.

Each test writes a site with the real CLI code (``generate``) and opens it from disk (file://, no server).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.docs_site.generate import generate
from modelplane.specs.base import NodeId
from modelplane.workspace import Workspace
from tests.conftest import EXAMPLES, GitProject
from tests.docs_site.conftest import open_site

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    root = tmp_path_factory.mktemp("ap") / "assistant-platform"
    shutil.copytree(EXAMPLES / "assistant-platform", root, ignore=shutil.ignore_patterns(".modelplane"))
    ws = Workspace(root, "prod")
    site = root.parent / "site"
    generate(ws, site)
    return ws, site


_GRAPHS: dict[Path, LineageGraph] = {}


def graph_of(ws: Workspace) -> LineageGraph:
    """The project's graph, compiled once per test session (a compile per question made the tests slow)."""
    if ws.root not in _GRAPHS:
        _GRAPHS[ws.root] = ws.compile().graph
    return _GRAPHS[ws.root]


def hood(ws: Workspace, node: str, hops: int) -> set[str]:
    g = graph_of(ws)
    start = {NodeId.parse(node)}
    return {str(n) for n in start | g.upstream(start, hops) | g.downstream(start, hops)}


def test_search_answers_as_you_type_by_name_owner_column_and_selector(
    page: Any, platform_site: tuple[Workspace, Path]
) -> None:
    ws, site = platform_site
    open_site(page, site)
    box = page.locator("#search")
    box.click()
    box.press_sequentially("gramm")  # keystroke by keystroke: the list answers each one
    page.wait_for_function("MP.results && MP.results.length > 0")
    results = page.evaluate("MP.results")
    assert "model/grammar-llm" in results
    assert page.locator("#result-list li").first.inner_text().startswith("gramm")
    # an owner and a column name find their nodes too
    page.evaluate("MP.search('team-linguistics')")
    owned = {str(n) for n, node in graph_of(ws).nodes.items() if node.owner == "team-linguistics"}
    assert owned and owned <= set(page.evaluate("MP.results"))
    # the CLI's selector grammar, with the CLI's meaning
    box.fill("")
    box.press_sequentially("kind:endpoint")
    page.wait_for_function("document.getElementById('search-status').textContent.startsWith('selector')")
    cli = {str(n) for n in ws.graph("kind:endpoint").nodes or ()}
    assert set(page.evaluate("MP.selected")) == cli
    assert page.locator("#search-status").inner_text() == f"selector: {len(cli)} nodes"
    # a selector error says what is wrong, like the CLI's
    page.evaluate("MP.search('kind:datset')")
    assert "unknown kind `datset` in selector" in page.locator("#search-status").inner_text()
    # Enter focuses the first answer
    box.fill("")
    box.press_sequentially("grammar-llm-gold")
    box.press("Enter")
    assert page.locator("#panel h2").inner_text() == "evaluation/grammar-llm-gold"


def test_focus_hop_depth_expand_and_collapse(page: Any, platform_site: tuple[Workspace, Path]) -> None:
    ws, site = platform_site
    open_site(page, site, "#node=model/grammar-llm&hops=1")
    assert page.locator("#panel h2").inner_text() == "model/grammar-llm"
    assert set(page.evaluate("MP.shown")) == hood(ws, "model/grammar-llm", 1)
    page.locator("#hops").fill("2")
    page.locator("#hops").dispatch_event("change")
    two = hood(ws, "model/grammar-llm", 2)
    assert set(page.evaluate("MP.shown")) == two and len(two) > len(hood(ws, "model/grammar-llm", 1))
    assert "hops=2" in page.url
    # the page lists upstream and downstream; a click re-focuses there
    page.locator("#panel a", has_text="dataset/grammar-train").first.click()
    assert page.locator("#panel h2").inner_text() == "dataset/grammar-train"
    assert set(page.evaluate("MP.shown")) == hood(ws, "dataset/grammar-train", 2)
    # expand a node at the edge of the view: its neighbours join; collapse takes them away
    before = set(page.evaluate("MP.shown"))
    edge = next(n for n in sorted(before) if hood(ws, n, 1) - before)  # a shown node with hidden neighbours
    page.evaluate("(id) => { MP.cy.nodes().filter(n => n.data('nid') === id).emit('tap'); }", edge)  # returns nothing
    assert page.locator("#panel h2").inner_text() == edge
    page.locator("#expand-node").click()
    expanded = set(page.evaluate("MP.shown"))
    assert expanded == before | hood(ws, edge, 1)
    page.locator("#collapse-node").click()
    assert set(page.evaluate("MP.shown")) == before


def test_owner_lens_colours_each_owner_alike(page: Any, platform_site: tuple[Workspace, Path]) -> None:
    ws, site = platform_site
    open_site(page, site, "#node=model/grammar-llm&hops=2")
    page.locator("#lens").select_option("owner")
    colours = page.evaluate(
        "MP.cy.nodes().filter(n => n.data('nid')).map(n => [n.data('nid'), n.style('background-color')])"
    )
    g = graph_of(ws)
    owner_of = {str(n): node.owner for n, node in g.nodes.items()}
    by_owner: dict[str, set[str]] = {}
    for name, colour in colours:
        by_owner.setdefault(owner_of[name], set()).add(colour)
    assert len(by_owner) > 2 and all(len(c) == 1 for c in by_owner.values())  # one colour per owner
    assert len({next(iter(c)) for c in by_owner.values()}) == len(by_owner)  # and different owners differ
    legend = page.locator("#legend").inner_text()
    assert "owner" in legend and all(owner in legend for owner in by_owner)


def test_impact_overlay_colours_categories_marks_changes_and_hover_shows_the_reasons(
    page: Any, git_example: Callable[[str], GitProject]
) -> None:
    gp = git_example("assistant-platform")
    model = gp.root / "specs" / "ml" / "models.yaml"
    gp.edit("specs/ml/models.yaml", 'version: "3.2.0"', 'version: "3.3.0"')
    assert 'version: "3.3.0"' in model.read_text()
    gp.commit("bump grammar-llm")
    ws = Workspace(gp.root, "prod")
    site = gp.root.parent / "site-overlay"
    generate(ws, site, base="HEAD~1")
    plan = ws.plan("HEAD~1", allow_breaking=True).plan
    impact = {i.id: i for i in plan.impact if i.category != "unaffected"}
    open_site(page, site)
    assert page.locator("#lens").input_value() == "impact"  # the overlay's own lens is on
    assert "1 changed, against git HEAD~1" in page.locator("#overlay-note").inner_text()
    assert page.locator("#panel h2").inner_text() == "model/grammar-llm"  # the first change is in focus
    changed = page.evaluate("MP.cy.nodes('.changed').map(n => n.data('label'))")
    assert changed == ["Δ grammar-llm"]
    endpoint = "endpoint/grammar-prod"
    assert impact[endpoint].category == "rollout-required"
    # hover the endpoint with the real mouse: the tooltip gives its category and reason chain
    box = page.locator("#graph").bounding_box()
    pos = page.evaluate("(id) => MP.cy.nodes().filter(n => n.data('nid') === id)[0].renderedPosition()", endpoint)
    page.mouse.move(box["x"] + pos["x"], box["y"] + pos["y"])
    tip = page.locator("#tooltip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "impact: rollout-required" in text
    assert all(reason in text for reason in impact[endpoint].reasons)
    # colours follow the category: every rollout-required node alike, unlike the retrain/re-evaluate ones
    colour = page.evaluate(
        "(id) => MP.cy.nodes().filter(n => n.data('nid') === id)[0].style('background-color')", endpoint
    )
    evaluation = page.evaluate(
        "(id) => MP.cy.nodes().filter(n => n.data('nid') === id)[0].style('background-color')",
        "evaluation/grammar-llm-gold",
    )
    assert impact["evaluation/grammar-llm-gold"].category == "re-evaluate-required" and colour != evaluation
    # `state:modified` in the search box is what changed against the base
    page.evaluate("MP.search('state:modified+1')")
    assert "model/grammar-llm" in page.evaluate("MP.selected")


def test_a_nodes_timeline_shows_what_modelplane_show_tells(page: Any, tmp_path: Path) -> None:
    from modelplane.cli.views.show import show_text
    from modelplane.docs_site.history import timeline
    from modelplane.runtime.state.ports import EffectWrites

    root = tmp_path / "assistant-platform"
    shutil.copytree(EXAMPLES / "assistant-platform", root, ignore=shutil.ignore_patterns(".modelplane"))
    ws = Workspace(root, "prod")
    g = ws.compile().graph
    nid, wf, ev = (
        NodeId("model", "grammar-llm"),
        NodeId("workflow", "finetune-grammar-llm"),
        NodeId("evaluation", "grammar-llm-gold"),
    )
    store = ws.store()
    env = ws.settings.environment
    # two applies as the activities record them: the model at 3.1.0, then retrained on new data as 3.2.0
    for n, (plan_id, version) in enumerate((("plan-aaa", "3.1.0"), ("plan-bbb", "3.2.0"))):
        # the second is what the specs say now (3.2.0); the first its predecessor
        spec = {
            **g.nodes[nid].data["spec"],
            "version": version,
            "artifact": f"s3://assistant-models/grammar-llm/{version}/",
        }
        data = {**g.nodes[nid].data, "spec": spec}
        assert n == 0 or data == g.nodes[nid].data
        apply_id = store.next_apply_id()
        store.history_begin(apply_id, env, plan_id, f"apply/x/{env}", f"dev{n}@example.com")
        key = f"{apply_id}:register:{nid}"
        store.ledger_begin(key, env, apply_id, f"register:{nid}")
        store.ledger_done(key, {"registered": str(nid), "version": version}, environment=env, apply_id=apply_id,
                          writes=EffectWrites(catalog=(str(nid), version, data)))  # fmt: skip
        runs = [(f"register:{nid}", "register", str(nid), "succeeded", {"version": version})]
        if n == 1:
            runs.insert(0, (f"run-workflow:{wf}", "run-workflow", str(wf), "succeeded", {"exit_code": 0}))
        runs.append((f"evaluate:{ev}", "evaluate", str(ev), "succeeded", {"metrics": {"gleu": 0.7 + n / 100}}))
        upserts = [(str(i), g.nodes[i].kind, g.nodes[i].file, g.nodes[i].index, g.nodes[i].data) for i in (wf, ev)]
        store.record(env, apply_id, upserts=[*upserts, (str(nid), "Model", g.nodes[nid].file, 0, data)], runs=runs)
        store.history_end(apply_id, "succeeded", {})
    store.close()
    site = tmp_path / "site"
    generate(ws, site)
    open_site(page, site, "#node=model/grammar-llm")
    items = page.locator("#timeline li")
    text = page.locator("#timeline").inner_text()
    # the page reads the history `modelplane show` prints: the same events, in the same words
    history = ws.node_history(str(nid))
    events = timeline(history)
    assert items.count() == len(events) == 2 + 2 + 2  # per apply: the version applied, registered, its register run
    assert [items.nth(i).locator("b").inner_text() for i in range(items.count())] == [e["title"] for e in events]
    assert (
        "applied version 3.1.0 (created)" in text
        and "applied version 3.2.0 (changed spec.artifact, spec.version)" in text
    )
    assert (
        "registered version 3.1.0\ns3://assistant-models/grammar-llm/3.1.0/" in text
        and "registered version 3.2.0" in text
    )
    produced = "produced by run-workflow:workflow/finetune-grammar-llm succeeded: exit 0; inputs dataset/grammar-train@"
    assert text.count(produced) == 1 and text.count("evaluated by evaluate:evaluation/grammar-llm-gold") == 2
    shown = show_text(history)
    assert "run-workflow:workflow/finetune-grammar-llm  succeeded  exit 0; inputs dataset/grammar-train@" in shown
    assert "gleu=0.71 passed" in shown and "gleu=0.71 passed" in text
    assert "plan plan-aaa" in text and "plan plan-bbb" in text and "by dev1@example.com" in text
    assert text.index("3.1.0") < text.index("3.2.0")  # oldest first
    assert page.locator("#node-state").inner_text() == "applied"
    page.locator("#lens").select_option("state")
    legend = page.locator("#legend").inner_text()
    assert "applied (3)" in legend and "not applied" in legend
