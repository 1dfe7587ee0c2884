"""`plan --base` builds the base as the head's graph with the differing files swapped in.

Each scenario is a real git history; the overlaid base must be exactly what a
full compile of the base gives (nodes, documents, edges in both directions,
order, fingerprints), or the overlay must decline so the full compile runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.compiler.compiled import Compiled
from modelplane.compiler.graph.lineage import CycleError
from modelplane.compiler.incremental.overlay import base_from_head
from modelplane.compiler.source.files import GitSource
from modelplane.compiler.source.scan import scan
from modelplane.errors import GraphError, PlanError
from tests.conftest import GitProject

Make = Callable[[str], GitProject]
PROD = "prod"


def bases(root: Path, ref: str = "HEAD~1") -> tuple[Compiled | None, Compiled]:
    """(the overlaid base or None where it declines, the fully compiled base)."""
    head_scan = scan(root, PROD)
    git = GitSource.for_project(root, ref)
    head = compile_graph(root, PROD, None, False, strict=False, scanned=head_scan)
    git.borrow(head_scan.hashes)
    base_scan = scan(root, PROD, git)
    overlaid = base_from_head(head, head_scan, base_scan, False)
    full = compile_graph(root, PROD, git, False, run_checks=False, scanned=base_scan)
    return overlaid, full


def assert_same(a: Compiled | None, b: Compiled) -> None:
    assert a is not None, "the overlay declined"
    assert list(a.graph.nodes) == list(b.graph.nodes)
    assert [(n.kind, n.file, n.index, n.data) for n in a.graph.nodes.values()] == [
        (n.kind, n.file, n.index, n.data) for n in b.graph.nodes.values()
    ]
    assert a.graph.edges == b.graph.edges
    assert a.graph._out == b.graph._out and a.graph._in == b.graph._in
    assert a.graph.topo_order() == b.graph.topo_order()
    assert a.fingerprints == b.fingerprints
    assert (a.specs.files, a.specs.fingerprint) == (b.specs.files, b.specs.fingerprint)


def test_unchanged_files_reuse_the_head_graph(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    (gp.root / "README.txt").write_text("not a spec\n")
    gp.commit("a file outside the specs")
    overlaid, full = bases(gp.root)
    assert_same(overlaid, full)


def test_a_changed_column(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/data/raw.yaml", "      - {name: language, type: string}\n", "")
    gp.commit("drop a column")
    overlaid, full = bases(gp.root)
    assert_same(overlaid, full)
    # only what is downstream of the edited dataset has a new fingerprint
    head = compile_graph(gp.root, PROD, use_cache=False, strict=False)
    moved = {n for n in full.fingerprints if full.fingerprints[n].full != head.fingerprints[n].full}
    assert "dataset/grammar-edits-raw" in {str(n) for n in moved}
    assert len(moved) < len(full.fingerprints)


def test_a_renamed_model_re_resolves_every_reference_to_it(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    for rel, old, new in [
        ("specs/ml/models.yaml", "  name: grammar-small\n", "  name: grammar-mini\n"),
        ("specs/ml/evaluations.yaml", "  model: grammar-small\n", "  model: grammar-mini\n"),
        ("specs/ml/evaluations.yaml", "  model: grammar-small\n", "  model: grammar-mini\n"),
        ("specs/serving/endpoints.yaml", "  model: grammar-small\n", "  model: grammar-mini\n"),
        ("specs/ml/workflows.yaml", "outputs: [model/grammar-small]", "outputs: [model/grammar-mini]"),
    ]:
        gp.edit(rel, old, new)
    gp.commit("rename grammar-small")
    overlaid, full = bases(gp.root)
    assert_same(overlaid, full)


def test_a_gate_that_appears(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/ml/evaluations.yaml", "  blocking: false\n", "  blocking: true\n")
    gp.commit("holdout now blocks")
    overlaid, full = bases(gp.root)
    assert_same(overlaid, full)
    gates = {(str(e.source), str(e.target)) for e in full.graph.edges if e.kind == "gates"}
    assert ("evaluation/grammar-llm-holdout", "endpoint/grammar-prod") not in gates


def test_a_document_moved_to_another_file_and_a_deleted_file(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    models = (gp.root / "specs/ml/models.yaml").read_text()
    docs = models.split("\n---\n")
    tone = next(d for d in docs if "name: tone-classifier\n" in d)
    (gp.root / "specs/ml/models.yaml").write_text("\n---\n".join(d for d in docs if d is not tone))
    (gp.root / "specs/ml/tone.yaml").write_text(tone if tone.endswith("\n") else tone + "\n")
    (gp.root / "specs/services.yaml").unlink()
    gp.commit("move tone-classifier to its own file; drop the services")
    overlaid, full = bases(gp.root)
    assert_same(overlaid, full)
    assert full.graph.nodes[next(n for n in full.graph.nodes if n.name == "tone-classifier")].file == (
        "specs/ml/models.yaml"
    )


def test_an_uncommitted_edit_against_head(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("specs/ml/models.yaml", 'version: "3.2.0"', 'version: "3.3.0"')
    overlaid, full = bases(gp.root, "HEAD")
    assert_same(overlaid, full)
    plan = make_plan(gp.root, PROD, base_ref="HEAD", use_cache=False).plan
    assert [c.id for c in plan.changes] == ["model/grammar-llm"]


def test_declines_when_the_project_file_differs(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    gp.edit("modelplane.yaml", "specs:", "# a comment\nspecs:")
    gp.commit("touch the project file")
    overlaid, full = bases(gp.root)
    assert overlaid is None
    assert len(full.graph) > 0


def test_declines_when_the_base_defines_a_name_twice(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    models = (gp.root / "specs/ml/models.yaml").read_text()
    tone = next(d for d in models.split("\n---\n") if "name: tone-classifier\n" in d)
    (gp.root / "specs/ml/tone.yaml").write_text(tone)
    gp.commit("a second tone-classifier")
    (gp.root / "specs/ml/tone.yaml").unlink()
    gp.commit("remove it again")
    head_scan = scan(gp.root, PROD)
    head = compile_graph(gp.root, PROD, None, False, strict=False, scanned=head_scan)
    git = GitSource.for_project(gp.root, "HEAD~1")
    git.borrow(head_scan.hashes)
    assert base_from_head(head, head_scan, scan(gp.root, PROD, git), False) is None


def test_a_cycle_only_the_base_has_stops_the_overlay_as_it_stops_a_full_compile(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    anchor = "uri: s3://assistant-lake/raw/tone_annotations/\n"
    gp.edit("specs/data/raw.yaml", anchor, anchor + "  derived_from: [tone-train]\n")  # tone-train derives from it
    gp.commit("a cycle")
    gp.edit("specs/data/raw.yaml", anchor + "  derived_from: [tone-train]\n", anchor)
    gp.commit("and back")
    with pytest.raises(CycleError):
        bases(gp.root)
    with pytest.raises(PlanError) as err:
        make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False)
    invalid, cycle = err.value.diagnostics
    assert invalid.code == "invalid-base" and cycle.code == "cycle"
    assert cycle.message == "lineage cycle: dataset/tone-annotations -> dataset/tone-train -> dataset/tone-annotations"
    assert cycle.location is not None and cycle.location.file == "specs/data/derived.yaml"


def test_edges_declared_by_their_source_match_the_spec_models() -> None:
    from modelplane.compiler.graph.lineage import DECLARED_BY_SOURCE
    from modelplane.specs.kinds import KIND_MODELS
    from modelplane.specs.refs import reference_paths

    downstream = {
        ref.edge for m in KIND_MODELS.values() for _, ref in reference_paths(m) if ref.direction == "downstream"
    }
    assert downstream == DECLARED_BY_SOURCE


def test_an_unchanged_reference_to_a_node_the_base_lacks_declines(git_example: Make) -> None:
    """The base commit was broken: services.yaml named an endpoint only the head defines."""
    gp = git_example("assistant-platform")
    gp.edit(
        "specs/services.yaml", "[endpoint/grammar-small-prod,", "[endpoint/tone-canary, endpoint/grammar-small-prod,"
    )
    gp.commit("consume an endpoint that does not exist yet")
    endpoints = (gp.root / "specs/serving/endpoints.yaml").read_text()
    tone = next(d for d in endpoints.split("\n---\n") if "name: tone-prod\n" in d)
    (gp.root / "specs/serving/canary.yaml").write_text(tone.replace("name: tone-prod\n", "name: tone-canary\n"))
    gp.commit("add it")
    head_scan = scan(gp.root, PROD)
    head = compile_graph(gp.root, PROD, None, False, strict=False, scanned=head_scan)
    git = GitSource.for_project(gp.root, "HEAD~1")
    git.borrow(head_scan.hashes)
    assert base_from_head(head, head_scan, scan(gp.root, PROD, git), False) is None
    with pytest.raises(PlanError) as err:
        make_plan(gp.root, PROD, base_ref="HEAD~1", use_cache=False)
    assert [d.code for d in err.value.diagnostics][:2] == ["invalid-base", "dangling-reference"]


def test_git_listings_are_stopped_when_the_head_fails_first(git_example: Make) -> None:
    gp = git_example("assistant-platform")
    anchor = "uri: s3://assistant-lake/raw/tone_annotations/\n"
    gp.edit("specs/data/raw.yaml", anchor, anchor + "  derived_from: [tone-train]\n")  # a cycle in the head
    git = GitSource.for_project(gp.root, "HEAD")
    with pytest.raises(GraphError):
        make_plan(gp.root, PROD, base_ref="HEAD", use_cache=False, base_source=git)
    jobs = [git._listing, git._staged, git._modified]
    assert all(job._proc.returncode is not None and job._out.closed for job in jobs)
