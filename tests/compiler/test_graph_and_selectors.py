"""Lineage graph edges, every selector operator, and the graph checks with their locations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.compiler.change.whatif import hypothetical
from modelplane.compiler.compile import compile_graph
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.graph.selectors import select
from modelplane.errors import GraphError, SelectorError
from modelplane.specs.base import NodeId
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def graph() -> LineageGraph:
    return compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph


def ids(nodes: set[NodeId]) -> list[str]:
    return sorted(str(n) for n in nodes)


def test_edges_follow_the_data(graph: LineageGraph) -> None:
    kinds = {(str(e.source), str(e.target)): e.kind for e in graph.edges}
    assert kinds[("dataset/grammar-edits-raw", "dataset/grammar-pairs-clean")] == "derives"
    assert kinds[("dataset/user-profiles", "feature/user-writing-profile")] == "reads"
    assert kinds[("feature/user-writing-profile", "model/grammar-llm")] == "trained_on"
    assert kinds[("model/grammar-llm", "evaluation/grammar-llm-gold")] == "evaluates"
    assert kinds[("dataset/grammar-gold", "evaluation/grammar-llm-gold")] == "evaluates_on"
    assert kinds[("model/grammar-llm", "endpoint/grammar-prod")] == "serves"
    assert kinds[("evaluation/grammar-llm-gold", "endpoint/grammar-prod")] == "gates"
    assert ("evaluation/grammar-llm-holdout", "endpoint/grammar-prod") not in kinds  # not blocking
    assert kinds[("stack/prod-gpu", "endpoint/grammar-prod")] == "hosts"
    assert kinds[("endpoint/grammar-prod", "service/browser-extension")] == "consumes"
    assert kinds[("dataset/grammar-train", "workflow/finetune-grammar-llm")] == "input"
    assert kinds[("workflow/split-grammar-pairs", "dataset/grammar-holdout")] == "output"
    assert graph.edges == sorted(graph.edges)


def test_edges_hold_their_nodes_own_ids(graph: LineageGraph) -> None:
    """Both ends of every edge are the very NodeId objects the graph's nodes are keyed by, and ids of one kind share
    one kind string: the later stages look edges' ends up by identity (docs/decisions.md, "Cold and warm speed")."""
    keys = {nid: nid for nid in graph.nodes}
    assert graph.edges
    for e in graph.edges:
        assert e.source is keys[e.source] and e.target is keys[e.target], e
    by_kind: dict[str, set[int]] = {}
    for nid in graph.nodes:
        by_kind.setdefault(nid.kind, set()).add(id(nid.kind))
    assert all(len(objects) == 1 for objects in by_kind.values()), by_kind


def test_selector_operators(graph: LineageGraph) -> None:
    assert ids(select(graph, "grammar-llm")) == ["model/grammar-llm"]
    assert ids(select(graph, "endpoint/grammar-prod")) == ["endpoint/grammar-prod"]
    down = select(graph, "model/grammar-small+")
    assert ids(down) == [
        "endpoint/grammar-small-prod",
        "evaluation/grammar-small-gold",
        "evaluation/grammar-small-safety",
        "model/grammar-small",
        "service/mobile-keyboard",
    ]
    up1 = select(graph, "1+feature/user-writing-profile")
    assert ids(up1) == ["dataset/user-profiles", "feature/user-writing-profile"]
    both = select(graph, "+feature/edit-language-mix+1")
    assert ids(both) == ["dataset/grammar-edits-raw", "feature/edit-language-mix", "workflow/split-grammar-pairs"]
    assert ids(select(graph, "kind:stack")) == ["stack/local", "stack/prod-gpu", "stack/staging-gpu"]
    assert ids(select(graph, "owner:team-tone-ml")) == [
        "evaluation/tone-classifier-accuracy",
        "model/tone-classifier",
        "workflow/train-tone-classifier",
    ]
    assert ids(select(graph, "label:tier=0")) == ["endpoint/grammar-prod", "endpoint/grammar-small-prod"]
    assert ids(select(graph, "kind:endpoint,label:tier=1")) == ["endpoint/rewrite-prod", "endpoint/tone-prod"]
    assert ids(select(graph, "tone-prod rewrite-prod")) == ["endpoint/rewrite-prod", "endpoint/tone-prod"]
    assert ids(select(graph, "path:specs/services.yaml,owner:team-editor")) == [
        "service/editor-inline-suggestions",
        "service/rewrite-button",
        "service/tone-panel",
    ]
    assert ids(select(graph, "grammar-*,kind:model")) == ["model/grammar-llm", "model/grammar-small"]
    modified = {NodeId("model", "tone-classifier")}
    assert ids(select(graph, "state:modified+", modified)) == [
        "endpoint/tone-prod",
        "evaluation/tone-classifier-accuracy",
        "model/tone-classifier",
        "service/email-assistant",
        "service/tone-panel",
    ]


def test_selector_errors_are_helpful(graph: LineageGraph) -> None:
    with pytest.raises(SelectorError) as info:
        select(graph, "grammar-lm")
    assert info.value.diagnostics[0].hint == "did you mean `grammar-llm`?"
    with pytest.raises(SelectorError, match="unknown selector method"):
        select(graph, "ownr:x")
    with pytest.raises(SelectorError, match="needs something to compare"):
        select(graph, "state:modified")


def test_impact_of_a_hypothetical_dataset_change(graph: LineageGraph) -> None:
    result = hypothetical(graph, {NodeId("dataset", "user-profiles")})
    cats = {str(k): v.category for k, v in result.affected.items()}
    assert cats["feature/user-writing-profile"] == "notify"
    assert cats["workflow/finetune-grammar-llm"] == "retrain-required"
    assert cats["model/grammar-llm"] == "retrain-required"
    assert cats["service/editor-inline-suggestions"] == "notify"
    assert "model/tone-classifier" not in cats


CYCLE = {
    "specs/a.yaml": """
    apiVersion: modelplane/v1
    kind: Dataset
    metadata: {name: a, owner: t}
    spec:
      uri: s3://a
      format: delta
      derived_from: [b]
      schema: {columns: [{name: x, type: string}]}
    ---
    apiVersion: modelplane/v1
    kind: Dataset
    metadata: {name: b, owner: t}
    spec:
      uri: s3://b
      format: delta
      derived_from: [a]
      schema: {columns: [{name: x, type: string}]}
    """
}


def test_cycle_error_shows_the_path(make_project: Callable[..., Path]) -> None:
    with pytest.raises(GraphError) as info:
        compile_graph(make_project(CYCLE), use_cache=False)
    [d] = info.value.diagnostics
    assert d.code == "cycle"
    assert d.message == "lineage cycle: dataset/a -> dataset/b -> dataset/a"
    assert d.location is not None and (d.location.file, d.location.line) == ("specs/a.yaml", 16)


def test_gpu_fit_and_capacity_checks(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "specs/s.yaml": """
            apiVersion: modelplane/v1
            kind: Stack
            metadata: {name: gpu, owner: t}
            spec:
              provider: kubernetes
              gpu_pools: [{name: p, accelerator: L4, gpus_per_node: 2, max_nodes: 2}]
            ---
            apiVersion: modelplane/v1
            kind: Model
            metadata: {name: big, owner: t}
            spec: {version: "1", artifact: s3://m, parameters_b: 70, dtype: bf16}
            ---
            apiVersion: modelplane/v1
            kind: Endpoint
            metadata: {name: ep, owner: t}
            spec:
              model: big
              stack: gpu
              resources: {accelerator: L4, gpus_per_replica: 1}
              traffic: {qps: 1000}
              slo: {p99_latency_ms: 1000}
              capacity: {target_qps_per_replica: 100}
              autoscaling: {min_replicas: 1, max_replicas: 6}
            """,
        }
    )
    with pytest.raises(GraphError) as info:
        compile_graph(root, use_cache=False)
    by_code = {d.code: d for d in info.value.diagnostics}
    fit = by_code["gpu-fit"]
    assert fit.message == "model/big needs 130 GiB for its weights (bf16), but 1 x L4 give 22 GiB usable"
    assert fit.location is not None and (fit.location.file, fit.location.line) == ("specs/s.yaml", 19)
    cap = by_code["gpu-capacity"]
    assert cap.message.startswith("stack/gpu has 4 L4 GPUs at most, but its endpoints may need 6")
    # too few max_replicas for the declared traffic is an error on a GPU stack (compiler/capacity)
    assert by_code["insufficient-replicas"].severity == "error"
    assert "max_replicas 6 < 10 needed" in by_code["insufficient-replicas"].message


def test_feature_reading_a_missing_column(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "specs/d.yaml": """
            apiVersion: modelplane/v1
            kind: Dataset
            metadata: {name: events, owner: t}
            spec: {uri: s3://e, format: delta, schema: {columns: [{name: user_id, type: string}]}}
            ---
            apiVersion: modelplane/v1
            kind: Feature
            metadata: {name: f, owner: t}
            spec:
              entity: user_id
              inputs: [{dataset: events, columns: [user_id, usr]}]
              columns: [{name: user_id, type: string}]
            """
        }
    )
    with pytest.raises(GraphError) as info:
        compile_graph(root, use_cache=False)
    [d] = info.value.diagnostics
    assert d.code == "unknown-column"
    assert d.location is not None and (d.location.line, d.location.column) == (11, 49)
    assert d.related[0][1].file == "specs/d.yaml"


def test_caches_are_ignored_when_the_code_that_made_them_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new spec field must not be served from a cache written before it existed."""
    import shutil

    import orjson

    from modelplane.compiler.incremental import spec_cache as cache

    root = tmp_path / "qs"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    compile_graph(root)  # fills both caches
    monkeypatch.setattr(cache, "_CODE", ["written-by-older-code"])
    stale = compile_graph(root)
    monkeypatch.setattr(cache, "_CODE", [])
    fresh = compile_graph(root, use_cache=False)
    assert {str(n): v.data for n, v in stale.graph.nodes.items()} == {
        str(n): v.data for n, v in fresh.graph.nodes.items()
    }
    index_line = (root / ".modelplane" / "cache" / "specs-dev.json").read_bytes().split(b"\n", 1)[0]
    header = orjson.loads(index_line)["header"]
    assert header["modelplane"] == "written-by-older-code"  # rewritten under the code that read it


def test_cache_files_cut_short_are_a_cold_start(tmp_path: Path) -> None:
    """Both caches keep their documents' JSON after an index line, sliced out by offsets: a file cut short (a full
    disk, a copy interrupted) must read as no cache, not hand out truncated documents."""
    import shutil

    root = tmp_path / "qs"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    fresh = compile_graph(root, use_cache=False)
    compile_graph(root)  # fills both caches
    caches = sorted((root / ".modelplane" / "cache").glob("*-*.json"))
    assert {p.name.split("-")[0] for p in caches} >= {"graph", "specs"}
    for p in caches:
        p.write_bytes(p.read_bytes()[:-7])
    from modelplane.compiler.incremental import spec_cache

    spec_cache._OPENED.clear()  # read the files again, as the next process would
    again = compile_graph(root)
    assert {str(n): v.data for n, v in again.graph.nodes.items()} == {
        str(n): v.data for n, v in fresh.graph.nodes.items()
    }


def test_a_spec_cache_index_that_does_not_add_up_is_no_cache() -> None:
    """The index line's document ends must run forward and end where the file does, or nothing is read from it."""
    from modelplane.compiler.incremental.spec_cache import _entries

    body = b'{"a":1}{"b":2}'
    assert _entries({"k": [[0, "s", "m", 7], [1, "s", "m", 14]]}, b"x\n" + body, 2) == {
        "k": [[0, b'{"a":1}', "s", "m"], [1, b'{"b":2}', "s", "m"]]
    }
    for rows in ([[0, "s", "m", 7], [1, "s", "m", 3]], [[0, "s", "m", 7]], [[0, "s", "m", 20]]):
        with pytest.raises(ValueError):
            _entries({"k": rows}, b"x\n" + body, 2)
