"""vLLM versions: the flag data, the renderer's flags against the pinned release, and the compile-time check."""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest

from modelplane.compiler.compile import compile_graph
from modelplane.compiler.graph.checks import check
from modelplane.errors import Diagnostic, GraphError
from modelplane.specs.models import ModelSpec
from modelplane.specs.serving import DEFAULT_VLLM_IMAGE, EndpointSpec, VllmArgs
from modelplane.stacks.engine import RENDERED_FLAGS, engine_args
from modelplane.stacks.render import render_stack
from modelplane.stacks.vllm_versions import PINNED_VERSION, flag_sets, image_version, version_key
from tests.conftest import EXAMPLES, REPO

FLAG_DIR = REPO / "stacks" / "engine_flags"
MakeProject = Callable[..., Path]


def test_flag_data_files_are_well_formed() -> None:
    files = sorted(FLAG_DIR.glob("*.json"))
    assert len(files) >= 2
    for path in files:
        data = json.loads(path.read_text())
        assert path.name == f"vllm-{data['version']}.json"
        assert data["engine"] == "vllm" and data["generated_by"] == "tools/vllm_flags.py"
        assert re.fullmatch(r"[0-9a-f]{64}", data["sha256"])
        assert data["wheel"].startswith(f"vllm-{data['version']}-") and data["wheel"].endswith(".whl")
        assert "vllm/engine/arg_utils.py" in data["modules"] and "vllm/entrypoints/cli/serve.py" in data["modules"]
        flags = data["flags"]
        assert flags == sorted(set(flags)), f"{path.name}: flags must be sorted and unique"
        assert all(re.fullmatch(r"--?[A-Za-z0-9][A-Za-z0-9-]*", f) for f in flags), path.name
        # every `vllm serve` has these; a parser walk that lost a whole group would not
        assert {"--port", "--host", "--model", "--tensor-parallel-size", "--max-model-len"} <= set(flags)
        assert len(flags) > 200


def test_pinned_version_is_the_newest_with_data_and_the_vllm_extra_agrees() -> None:
    versions = list(flag_sets())
    assert PINNED_VERSION == versions[-1] == image_version(DEFAULT_VLLM_IMAGE) == "0.33.0"
    major, minor = version_key(PINNED_VERSION)[:2]
    assert any(version_key(v)[:2] == (major, minor - 1) for v in versions), "the previous minor has data too"
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["vllm"]
    assert extra == [f"vllm=={PINNED_VERSION}"]


def _every_arg_set(flag: bool) -> VllmArgs:
    """VllmArgs with every optional field given a value and every boolean ``flag``."""
    values: dict[str, Any] = {}
    for name, info in VllmArgs.model_fields.items():
        ann = info.annotation
        options = [a for a in get_args(ann) if a is not type(None)] or [ann]
        first = options[0]
        lits = get_args(first)
        if bool in (first, ann, *get_args(first)) or "_as_bool" in str(ann):  # bool, or the specs' Bool
            values[name] = flag
        elif lits and all(isinstance(x, str) for x in lits):
            values[name] = lits[-1]
        elif name == "served_model_name":
            values[name] = "served"
        elif info.default is not None:
            values[name] = info.default
        else:
            values[name] = 1024 if "int" in str(ann) else 0.5
    return VllmArgs.model_validate(values)


@pytest.mark.parametrize("flag", [True, False])
def test_every_flag_the_renderer_can_emit_exists_in_the_pinned_version(flag: bool) -> None:
    pinned = flag_sets()[PINNED_VERSION].flags
    spec = EndpointSpec.model_validate(
        {
            "model": "m",
            "stack": "s",
            "engine": {"args": _every_arg_set(flag).model_dump()},
            "resources": {"accelerator": "H100", "gpus_per_replica": 1},
            "traffic": {"qps": 1},
            "slo": {"p99_latency_ms": 1000},
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        }
    )
    model = ModelSpec.model_validate({"version": "1", "artifact": "hf://org/m@abc123", "parameters_b": 1})
    emitted = [a.flag for a in engine_args(spec, "m", model)]
    assert {"--revision", "--custom-histogram-buckets", "--served-model-name", "--port"} <= set(emitted)
    # one flag per VllmArgs field (served_model_name is rendered as --served-model-name above)
    assert len(emitted) == 3 + len(VllmArgs.model_fields) - 1 + 1
    missing = [f for f in emitted if f not in pinned]
    assert missing == [], f"vLLM {PINNED_VERSION} lacks {missing}"
    # the engine check skips rendering where a release has every flag the renderer can emit: it must know them
    assert set(emitted) <= RENDERED_FLAGS


@pytest.mark.parametrize(("stack", "env"), [("prod-gpu", "prod"), ("staging-gpu", "prod")])
def test_rendered_deployments_run_the_pinned_vllm_with_only_its_flags(stack: str, env: str) -> None:
    """Issue 11: Deployments ran vllm/vllm-openai:v0.11.0 with --custom-histogram-buckets, which 0.11.0 lacks."""
    rendered = render_stack(compile_graph(EXAMPLES / "assistant-platform", env, use_cache=False).graph, stack)
    containers = [
        c
        for o in rendered.objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
        if c["name"] == "vllm"
    ]
    assert containers
    pinned = flag_sets()[PINNED_VERSION].flags
    for c in containers:
        assert c["image"] == DEFAULT_VLLM_IMAGE
        flags = [a for a in c["args"] if a.startswith("--")]
        assert "--custom-histogram-buckets" in flags
        assert [f for f in flags if f not in pinned] == []


ENDPOINT = """
apiVersion: modelplane/v1
kind: Stack
metadata: {name: gpu, owner: t}
spec: {provider: kubernetes}
---
apiVersion: modelplane/v1
kind: Model
metadata: {name: m, owner: t}
spec: {version: "1", artifact: s3://m, parameters_b: 1}
---
apiVersion: modelplane/v1
kind: Endpoint
metadata: {name: ep, owner: t}
spec:
  model: m
  stack: gpu
  engine:
    ENGINE
  resources: {accelerator: H100}
  traffic: {qps: 10}
  slo: {p99_latency_ms: 1000}
  autoscaling: {min_replicas: 1, max_replicas: 2}
"""


NOT_ENGINE = {"canary-cannot-decide", "no-profile"}
"""Other checks' findings on this endpoint (its rollout's sample size, its capacity profile)."""


def _diagnostics(make_project: MakeProject, engine: str) -> list[Diagnostic]:
    block = textwrap.indent(textwrap.dedent(engine).strip(), "    ").lstrip()
    root = make_project({"specs/a.yaml": ENDPOINT.replace("ENGINE", block)})
    try:
        found = compile_graph(root, use_cache=False).warnings
    except GraphError as exc:
        found = exc.diagnostics
    return [d for d in found if d.code not in NOT_ENGINE]  # the engine's checks only


def _one(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in diags]
    return found[0]


def _line(d: Diagnostic) -> tuple[int, int]:
    assert d.location is not None and d.location.file == "specs/a.yaml"
    return d.location.line, d.location.column


def test_unknown_extra_arg_is_an_error_at_its_key_with_did_you_mean(make_project: MakeProject) -> None:
    d = _one(_diagnostics(make_project, "extra_args: {max-num-seq: 8}"), "unknown-engine-flag")
    assert d.severity == "error"
    assert d.message == (
        f"endpoint/ep: `vllm serve` of vLLM {PINNED_VERSION} has no flag `--max-num-seq` "
        "(from engine.extra_args.max-num-seq); every pod would exit at start"
    )
    assert _line(d) == (18, 18)  # the key inside extra_args
    assert d.hint is not None and "no supported vLLM release" in d.hint and "did you mean `--max-num-seqs`?" in d.hint


def test_old_image_is_an_error_at_the_field_that_implies_the_flag(make_project: MakeProject) -> None:
    """The original bug: vLLM 0.11.0 has no --custom-histogram-buckets, which every endpoint renders."""
    diags = _diagnostics(
        make_project,
        """
        image: vllm/vllm-openai:v0.11.0
        histogram_buckets: [0.1, 0.5, 1.0]
        """,
    )
    d = _one(diags, "unknown-engine-flag")
    assert "vLLM 0.11.0 has no flag `--custom-histogram-buckets` (from engine.histogram_buckets)" in d.message
    assert _line(d) == (19, 24)
    assert d.hint == (
        "`--custom-histogram-buckets` was added after 0.11.0: it is in vLLM 0.32.0, 0.33.0; "
        "set engine.image to `vllm/vllm-openai:v0.33.0`"
    )
    assert [r[0] for r in d.related] == ["engine.image runs vLLM 0.11.0"]


def test_a_flag_removed_since_the_image_names_where_it_was(make_project: MakeProject) -> None:
    assert "--cuda-graph-sizes" in flag_sets()["0.11.0"].flags
    d = _one(_diagnostics(make_project, "extra_args: {cuda-graph-sizes: 8}"), "unknown-engine-flag")
    assert d.hint is not None and d.hint.startswith("`--cuda-graph-sizes` was removed after vLLM 0.11.0")


def test_vllm_0_33_pairs_enable_with_disable_flags() -> None:
    """0.33.0's EnableDisableAction registers --disable-x beside --enable-x (and keeps --no-enable-x)."""
    pinned, previous = flag_sets()["0.33.0"].flags, flag_sets()["0.32.0"].flags
    assert {"--enable-prefix-caching", "--no-enable-prefix-caching", "--disable-prefix-caching"} <= pinned
    assert "--disable-prefix-caching" not in previous and "--no-enable-prefix-caching" in previous


def test_an_image_without_flag_data_is_a_warning_not_an_error(make_project: MakeProject) -> None:
    d = _one(_diagnostics(make_project, "image: registry.example.com/vllm:v0.20.1"), "unknown-engine-version")
    assert d.severity == "warning" and "names vLLM 0.20.1" in d.message and _line(d) == (18, 12)
    d = _one(_diagnostics(make_project, "image: registry.example.com/vllm@sha256:abcd"), "unknown-engine-version")
    assert "names no vLLM release in its tag" in d.message


def test_the_default_engine_passes_and_the_check_is_one_of_the_compiler_checks(make_project: MakeProject) -> None:
    assert _diagnostics(make_project, "args: {max_num_seqs: 64}") == []
    root = make_project({"specs/a.yaml": ENDPOINT.replace("ENGINE", "extra_args: {no-such-flag: 1}")})
    graph = compile_graph(root, use_cache=False, strict=False).graph
    assert [d.code for d in check(graph) if d.code not in NOT_ENGINE] == ["unknown-engine-flag"]


def test_histogram_buckets_that_vllm_would_reject(make_project: MakeProject) -> None:
    d = _one(_diagnostics(make_project, "histogram_buckets: [0.1, 0.5, 0.5, 1.0]"), "engine-histogram-buckets")
    assert "0.5 follows 0.5: bounds must be strictly increasing" in d.message and _line(d) == (18, 35)
    d = _one(_diagnostics(make_project, "histogram_buckets: [0, 1]"), "engine-histogram-buckets")
    assert "bound 0.0 must be finite and above 0" in d.message


# ---- the generator, on a miniature of vLLM's parser layout --------------------------------------

MINI = {
    "vllm/entrypoints/cli/serve.py": """
        from vllm.entrypoints.common.cli_args import make_arg_parser
        class ServeSubcommand:
            def subparser_init(self, subparsers):
                serve_parser = subparsers.add_parser("serve")
                serve_parser = make_arg_parser(serve_parser)
                return serve_parser
    """,
    "vllm/entrypoints/common/cli_args.py": """
        from vllm.engine.arg_utils import AsyncEngineArgs
        class BaseFrontendArgs:
            enable_thing: bool = False
            tool_parser: bool | str | None = None
            @classmethod
            def add_cli_args(cls, parser):
                frontend_kwargs = get_kwargs(cls)
                del frontend_kwargs["dropped"]
                frontend_group = parser.add_argument_group(title="x")
                for key, value in frontend_kwargs.items():
                    extra_flags = value.pop("flags", [])
                    frontend_group.add_argument(*extra_flags, f"--{key.replace('_', '-')}", **value)
                return parser
        class FrontendArgs(BaseFrontendArgs):
            port: int = 8000
            dropped: str = ""
        def make_arg_parser(parser):
            parser.add_argument("model_tag", nargs="?")
            parser.add_argument("--api-server-count", "-asc", type=int)
            parser = FrontendArgs.add_cli_args(parser)
            parser = AsyncEngineArgs.add_cli_args(parser)
            return parser
    """,
    "vllm/config/cache.py": """
        class CacheConfig:
            enable_prefix_caching: bool | None = None
            block_size: int = 16
    """,
    "vllm/engine/arg_utils.py": """
        import argparse
        from vllm.config.cache import CacheConfig
        class EngineArgs:
            @staticmethod
            def add_cli_args(parser):
                cache_kwargs = get_kwargs(CacheConfig)
                cache_group = parser.add_argument_group(title="CacheConfig")
                cache_group.add_argument("--block-size", **cache_kwargs["block_size"])
                cache_group.add_argument("--enable-prefix-caching", **{**cache_kwargs["enable_prefix_caching"]})
                cache_group.add_argument("--legacy", action=argparse.BooleanOptionalAction)
                for arg, type in [("--old-a", str), ("--old-b", bool)]:
                    cache_group.add_argument(arg, type=type, deprecated=True)
                current_platform.pre_register_and_update(parser)
                return parser
        class AsyncEngineArgs(EngineArgs):
            @staticmethod
            def add_cli_args(parser, async_args_only=False):
                if not async_args_only:
                    parser = EngineArgs.add_cli_args(parser)
                parser.add_argument("--enable-log-requests", action="store_true")
                return parser
    """,
}


def _load_tool() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("vllm_flags_tool", REPO / "tools" / "vllm_flags.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["vllm_flags_tool"] = module
    spec.loader.exec_module(module)
    return module


def test_the_generator_follows_explicit_flags_config_fields_and_boolean_negations(tmp_path: Path) -> None:
    tool = _load_tool()
    wheel = tmp_path / "vllm-9.9.0-cp38-abi3-manylinux_2_28_x86_64.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in MINI.items():
            source = textwrap.dedent(text)
            ast.parse(source)
            z.writestr(name, source)
    wheel.write_bytes(buf.getvalue())
    data = tool.write("9.9.0", wheel, tmp_path / "out")
    assert data["flags"] == sorted(
        [
            "--api-server-count", "-asc",  # explicit
            "--enable-thing", "--no-enable-thing", "--tool-parser", "--port",  # frontend fields, base first
            "--block-size", "--enable-prefix-caching", "--no-enable-prefix-caching",  # **kwargs of a config field
            "--legacy", "--no-legacy", "--old-a", "--old-b",  # explicit action, a loop over literals
            "--enable-log-requests",
        ]
    )  # fmt: skip
    assert "--dropped" not in data["flags"]  # `del frontend_kwargs["dropped"]`
    assert json.loads((tmp_path / "out" / "vllm-9.9.0.json").read_text()) == data
