"""Every diagnostic code the compiler can emit is reachable from `modelplane validate`.

`validate` runs the same compile `plan` does, so whatever plan rejects, validate
rejects; plan only adds the diff against a base. The codes are collected from
the source (compiler/ and specs/), so a new code fails
``test_every_code_is_listed`` until it gets a spec set here that triggers it
(or a reason why only plan can emit it).

Collected: the string given as ``code=``; the first argument of ``Diagnostic(...)``;
the argument in the ``code`` position of a module's own helpers (``_diag``); the
values of module constants named ``*_CODES`` / ``*_CODE``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from tests.conftest import MINIMAL_PROJECT, REPO

runner = CliRunner()


def collected_codes() -> dict[str, str]:
    """code -> where it is first written (file:line)."""
    found: dict[str, str] = {}
    # every stage's subpackage, the vLLM renderer, and the error tree (its default code)
    sources = [REPO / "modelplane" / "errors.py"]
    for folder in ("compiler", "specs", "stacks"):
        sources += sorted((REPO / folder).rglob("*.py"))
    for f in sources:
        tree = ast.parse(f.read_text())
        code_param = {
            fn.name: [a.arg for a in fn.args.args].index("code")
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef) and "code" in [a.arg for a in fn.args.args]
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        found.setdefault(kw.value.value, f"{f.relative_to(REPO)}:{kw.value.lineno}")
                at = 0 if name == "Diagnostic" else 1 if name == "at" else code_param.get(name)
                if at is not None and len(node.args) > at and isinstance(node.args[at], ast.Constant):
                    found.setdefault(node.args[at].value, f"{f.relative_to(REPO)}:{node.lineno}")
            elif isinstance(node, ast.Tuple) and node.elts and isinstance(node.elts[0], ast.Constant):
                # (code, message, hint) constants, and `code, what = "...", ...` pairs
                first = node.elts[0].value
                second = node.elts[1] if len(node.elts) in (2, 3) else None
                message = isinstance(second, ast.JoinedStr) or (
                    isinstance(second, ast.Constant) and isinstance(second.value, str) and " " in second.value
                )
                if isinstance(first, str) and re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", first) and message:
                    found.setdefault(first, f"{f.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                target = node.targets[0].id
                if target.endswith("_CODES") and isinstance(node.value, ast.Dict):
                    for v in node.value.values:
                        if isinstance(v, ast.Constant):
                            found.setdefault(v.value, f"{f.relative_to(REPO)}:{v.lineno}")
                elif target.endswith("_CODE") and isinstance(node.value, ast.Constant):
                    found.setdefault(node.value.value, f"{f.relative_to(REPO)}:{node.lineno}")
    return found


PLAN_ONLY = {
    "invalid-base": "the specs at --base REF do not compile: there is no base without --base",
    "breaking-change": "a change removes or retypes a column something reads: needs the base it changes from",
    "deleted-still-used": "a node deleted since the base is still referenced: needs the base it was deleted from",
    "selector-matches-nothing": "plan --select/--exclude whose state: part matches nothing (test_dbt_selectors.py)",
}
# codes whose trigger is not file content (links, permissions, special files, file names) or is large:
# each named test reaches it through `validate` (and `plan`), checked below to still mention it
ELSEWHERE = {
    # the capacity stage (compiler/capacity): profiles, sizing and the autoscaler's reach
    **{
        c: "tests/compiler/test_capacity.py"
        for c in (
            "no-profile",
            "stale-profile",
            "missing-profile",
            "invalid-profile",
            "min-below-steady",
            "ramp-too-fast",
            "scale-up-too-slow",
        )
    },
    **{
        c: "tests/compiler/test_scan_safety.py"
        for c in (
            "symlink-outside-project",
            "symlink-loop",
            "symlinked-folder",
            "not-a-regular-file",
            "unreadable-file",
            "non-utf8-name",
            "folder-too-deep",
            "unreadable-folder",
        )
    },
    **{
        c: "tests/compiler/test_compiler_robustness.py"
        for c in ("interpolation-too-large", "unsupported-tag", "recursive-alias", "merge-key", "complex-key")
    },
    "broken-symlink": "tests/compiler/test_diagnostic_codes.py",
}

NOT_FROM_SPECS = {
    "error": "the code of a plain message error (a selector that does not parse, a git failure): no spec emits it",
    "fmt-unreadable": "only `modelplane fmt` says it, where its round-trip parser refuses a file the compiler read",
}

HEAD = "apiVersion: modelplane/v1\n"


def dataset(name: str, extra: str = "", columns: str = "[{name: id, type: string}]") -> str:
    return (
        f"{HEAD}kind: Dataset\nmetadata: {{name: {name}, owner: t}}\n"
        f"spec:\n  uri: s3://x/{name}\n  format: parquet\n  schema: {{columns: {columns}}}\n{extra}"
    )


def feature(dataset_name: str, column: str = "id") -> str:
    return (
        f"{HEAD}kind: Feature\nmetadata: {{name: f, owner: t}}\n"
        f"spec:\n  entity: id\n  inputs: [{{dataset: {dataset_name}, columns: [{column}]}}]\n"
        "  columns: [{name: id, type: string}]\n"
    )


def serving(
    accelerator: str = "L4", params: float = 1, max_replicas: int = 2, capacity: str = "", pools: str = "[]"
) -> str:
    return (
        f"{HEAD}kind: Model\nmetadata: {{name: m, owner: t}}\n"
        f"spec: {{version: '1', artifact: s3://m, parameters_b: {params}}}\n---\n"
        f"{HEAD}kind: Stack\nmetadata: {{name: s, owner: t}}\nspec: {{provider: kubernetes, gpu_pools: {pools}}}\n---\n"
        f"{HEAD}kind: Endpoint\nmetadata: {{name: e, owner: t}}\n"
        f"spec:\n  model: m\n  stack: s\n  resources: {{accelerator: {accelerator}}}\n  traffic: {{qps: 50}}\n"
        f"  slo: {{p99_latency_ms: 1000}}\n  autoscaling: {{min_replicas: 1, max_replicas: {max_replicas}}}\n{capacity}"
    )


Files = dict[str, str | bytes]
# code -> (spec files, project file or None for the minimal one, extra CLI arguments)
TRIGGERS: dict[str, tuple[Files, str | None, list[str]]] = {
    "alias-limit": (
        {"specs/a.yaml": dataset("a").replace("format: parquet", "format: &f parquet\n  version: *f")},
        MINIMAL_PROJECT + "limits: {max_alias_events: 0}\n",
        [],
    ),
    "bad-secret-reference": (
        {"specs/a.yaml": dataset("a").replace("s3://x/a", "s3://x/${secret.no-dashes}")},
        None,
        [],
    ),
    "secret-not-allowed": ({"specs/a.yaml": dataset("a").replace("format: parquet", "format: ${secret.F}")}, None, []),
    "credential-in-spec": (
        {"specs/a.yaml": dataset("a").replace("s3://x/a", "'postgresql://app:hunter2@db/x'")},
        None,
        [],
    ),
    "bad-interpolation": ({"specs/a.yaml": dataset("a").replace("s3://x/a", "s3://x/${env.HOME}")}, None, []),
    "canary-cannot-decide": ({"specs/s.yaml": serving()}, None, []),
    "synthetic-traffic-unsupported": (
        {"specs/s.yaml": serving(capacity="  rollout: {analysis: {when_idle: synthesize}}\n")},
        None,
        [],
    ),
    "cycle": (
        {
            "specs/a.yaml": dataset("a", "  derived_from: [b]\n"),
            "specs/b.yaml": dataset("b", "  derived_from: [a]\n"),
        },
        None,
        [],
    ),
    "dangling-reference": ({"specs/f.yaml": feature("nope")}, None, []),
    "duplicate-key": (
        {"specs/a.yaml": dataset("a").replace("format: parquet", "format: parquet\n  format: csv")},
        None,
        [],
    ),
    "duplicate-name": ({"specs/a.yaml": dataset("a"), "specs/b.yaml": dataset("a")}, None, []),
    "empty-document": ({"specs/a.yaml": dataset("a") + "---\n---\n" + dataset("b")}, None, []),
    "file-too-large": (
        {"specs/a.yaml": dataset("a", "  version: '" + "x" * 2000 + "'\n")},
        MINIMAL_PROJECT + "limits: {max_file_bytes: 1024}\n",
        [],
    ),
    "gpu-capacity": (
        {"specs/s.yaml": serving(pools="[{name: p, accelerator: L4, gpus_per_node: 1, max_nodes: 1}]")},
        None,
        [],
    ),
    "gpu-fit": ({"specs/s.yaml": serving(params=70)}, None, []),
    "gpu-shape": (
        {
            "specs/s.yaml": serving().replace(
                "{accelerator: L4}", "{accelerator: L4}\n  engine: {args: {data_parallel_size: 2}}"
            )
        },
        None,
        [],
    ),
    "gpu-idle": (
        {"specs/s.yaml": serving().replace("{accelerator: L4}", "{accelerator: L4, gpus_per_replica: 2}")},
        None,
        [],
    ),
    "gpu-node-fit": (
        {
            "specs/s.yaml": serving(pools="[{name: p, accelerator: L4, gpus_per_node: 1, max_nodes: 8}]").replace(
                "{accelerator: L4}",
                "{accelerator: L4, gpus_per_replica: 2}\n  engine: {args: {tensor_parallel_size: 2}}",
            )
        },
        None,
        [],
    ),
    "insufficient-replicas": (
        {"specs/s.yaml": serving(capacity="  capacity: {target_qps_per_replica: 5}\n")},
        None,
        [],
    ),
    "invalid-project": ({"specs/a.yaml": dataset("a")}, "- a list, not a mapping\n", []),
    "invalid-value": ({"specs/a.yaml": dataset("a", columns="[{name: id, type: string, nullable: maybe}]")}, None, []),
    "missing-field": ({"specs/a.yaml": dataset("a").replace("  uri: s3://x/a\n", "")}, None, []),
    "missing-kind": ({"specs/a.yaml": dataset("a").replace("kind: Dataset\n", "")}, None, []),
    "no-project": ({}, "", []),
    "no-specs": ({"other/a.yaml": dataset("a")}, None, []),
    "not-a-mapping": ({"specs/a.yaml": "- just\n- a list\n"}, None, []),
    "not-utf8": ({"specs/a.yaml": dataset("a").encode().replace(b"owner: t", b"owner: \xff\xfe")}, None, []),
    "tab-indentation": ({"specs/a.yaml": dataset("a").replace("  uri:", "\turi:")}, None, []),
    "undefined-variable": ({"specs/a.yaml": dataset("a").replace("s3://x/a", "s3://x/${var.nope}")}, None, []),
    "unknown-accelerator": ({"specs/s.yaml": serving(accelerator="cpu")}, None, []),
    "unknown-column": ({"specs/a.yaml": dataset("a"), "specs/f.yaml": feature("a", column="nope")}, None, []),
    "unknown-engine-flag": (
        {"specs/s.yaml": serving().replace("  resources:", "  engine: {extra_args: {no-such-flag: 1}}\n  resources:")},
        None,
        [],
    ),
    "unknown-engine-version": (
        {
            "specs/s.yaml": serving().replace(
                "  resources:", "  engine: {image: 'vllm/vllm-openai:v0.1.0'}\n  resources:"
            )
        },
        None,
        [],
    ),
    "engine-histogram-buckets": (
        {"specs/s.yaml": serving().replace("  resources:", "  engine: {histogram_buckets: [0.5, 0.1]}\n  resources:")},
        None,
        [],
    ),
    "unknown-environment": ({"specs/a.yaml": dataset("a")}, None, ["--env", "staging"]),
    "unknown-field": ({"specs/a.yaml": dataset("a", "  colour: blue\n")}, None, []),
    "unknown-kind": ({"specs/a.yaml": dataset("a").replace("kind: Dataset", "kind: Datasett")}, None, []),
    "unknown-override": (
        {"specs/a.yaml": dataset("a")},
        MINIMAL_PROJECT + "    overrides: {dataset/nope: {spec: {version: '2'}}}\n",
        [],
    ),
    "unsupported-api-version": ({"specs/a.yaml": dataset("a").replace("modelplane/v1", "modelplane/v2")}, None, []),
    "wrong-kind-reference": ({"specs/s.yaml": serving(), "specs/f.yaml": feature("m")}, None, []),
    "yaml-syntax": ({"specs/a.yaml": dataset("a").replace("format: parquet", "format: [parquet")}, None, []),
}


def test_every_code_is_listed() -> None:
    codes = collected_codes()
    listed = TRIGGERS.keys() | PLAN_ONLY.keys() | NOT_FROM_SPECS.keys() | ELSEWHERE.keys()
    missing = {c: where for c, where in codes.items() if c not in listed}
    assert not missing, f"new diagnostic codes: give each a spec set in TRIGGERS (or a reason in PLAN_ONLY): {missing}"
    assert not listed - codes.keys(), f"listed codes the compiler no longer emits: {sorted(listed - codes.keys())}"


@pytest.mark.parametrize("code", sorted(TRIGGERS))
def test_validate_reaches(code: str, make_project: Callable[..., Path], tmp_path: Path) -> None:
    files, project, args = TRIGGERS[code]
    if project == "":  # no project file at all
        root = tmp_path / "empty"
        root.mkdir()
    else:
        root = make_project(files, project=project or MINIMAL_PROJECT)
    result = runner.invoke(app, ["validate", "-C", str(root), "--format", "json", "--no-cache", *args])
    payload = json.loads(result.output)
    found = [d["code"] for d in [*payload["errors"], *payload.get("warnings", [])]]
    assert code in found, (code, result.output)
    assert result.exit_code == (
        0 if code in ("unknown-engine-version", "canary-cannot-decide", "credential-in-spec", "gpu-idle") else 1
    ), result.output
    shown = next(d for d in [*payload["errors"], *payload.get("warnings", [])] if d["code"] == code)
    assert shown["message"], shown


@pytest.mark.parametrize("code", sorted(ELSEWHERE))
def test_codes_triggered_elsewhere_are_still_tested_there(code: str) -> None:
    assert f'"{code}"' in (REPO / ELSEWHERE[code]).read_text()


def test_validate_reaches_broken_symlink(make_project: Callable[..., Path]) -> None:
    root = make_project({"specs/a.yaml": dataset("a")})
    (root / "specs" / "gone.yaml").symlink_to(root / "specs" / "nowhere.yaml")
    result = runner.invoke(app, ["validate", "-C", str(root), "--format", "json", "--no-cache"])
    assert result.exit_code == 1, result.output
    assert "broken-symlink" in [d["code"] for d in json.loads(result.output)["errors"]]


@pytest.mark.parametrize("code", sorted(TRIGGERS))
def test_graph_rules_say_the_same_from_documents_as_from_models(code: str, make_project: Callable[..., Path]) -> None:
    """The graph rules read a node's values from its typed model where the loader built it (``SpecNode.spec_field``)
    and from its document where it did not (a forked child's node, a cached graph's): both give the same
    diagnostics, for every spec set that triggers a code."""
    from modelplane.compiler.compile import compile_graph
    from modelplane.compiler.graph import checks
    from modelplane.compiler.graph.lineage import LineageGraph
    from modelplane.compiler.load.specset import SpecNode
    from modelplane.errors import ModelplaneError

    files, project, _ = TRIGGERS[code]
    if project == "":
        pytest.skip("no project")
    root = make_project(files, project=project or MINIMAL_PROJECT)
    try:
        compiled = compile_graph(root, use_cache=False, strict=False)
    except ModelplaneError:
        pytest.skip("stops before the graph rules")
    graph = compiled.graph
    assert all(node.has_model for node in graph.nodes.values())

    def documents() -> LineageGraph:  # the same graph, its nodes holding only their JSON
        bare = {nid: SpecNode(nid, n.kind, n.file, n.index, n.json) for nid, n in graph.nodes.items()}
        specs = replace(graph.specs, nodes=bare, _kinds={}, _kinds_of=-1)  # its index by kind made afresh
        return LineageGraph(specs, graph.edges, graph._out, graph._in)

    # rule by rule, each on nodes without models (a rule that builds models would hand them to the next)
    for rule in (
        checks._column_lineage,
        checks._gpu_fit,
        checks.check_gpu_shape,
        checks.canary_feasibility,
        checks.credentials_in_specs,
        checks._capacity,
        checks.check_engine,
    ):
        assert [d.to_json() for d in rule(documents())] == [d.to_json() for d in rule(graph)], rule.__name__
