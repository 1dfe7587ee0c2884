"""Fuzzing spec files and the project file: no input makes `validate` or `plan` crash.

Each case is the quickstart example with a few hostile edits (numbers past the
safe range, inf/nan, YAML tags, recursive aliases, merge keys, broken syntax,
bad bytes, huge nesting, interpolation tricks) to its spec files or its
modelplane.yaml. Both commands run in-process through typer's CliRunner (with
the click command built once) and `--format json`: every run must exit 0 or 1, raise nothing, and print one valid
JSON document. Where the case validates, the compiled result read back from
the spec and graph caches must equal a fresh compile (inf turned into null by
a cache, say, would fail here).

Seeded (derandomized) and bounded: MODELPLANE_FUZZ_EXAMPLES sets the number of
hostile cases (default 120, and a third as many value cases: about a minute); a longer run:
``MODELPLANE_FUZZ_EXAMPLES=5000 MODELPLANE_FUZZ_LOG=/tmp/fuzz.log pytest tests/compiler/test_fuzz.py``
(the log gets one line per case: the exit codes of validate and plan).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from modelplane.cli import app
from modelplane.compiler.compile import compile_graph
from modelplane.compiler.compiled import Compiled
from modelplane.compiler.incremental import spec_cache
from modelplane.errors import ModelplaneError
from tests.conftest import EXAMPLES

EXAMPLES_COUNT = int(os.environ.get("MODELPLANE_FUZZ_EXAMPLES", "120"))
VALUE_EXAMPLES = max(20, EXAMPLES_COUNT // 3)
LOG = os.environ.get("MODELPLANE_FUZZ_LOG")
VALIDATED: list[int] = []
QUICKSTART = EXAMPLES / "quickstart"
FILES = ["modelplane.yaml", "specs/data.yaml", "specs/model.yaml", "specs/serving.yaml"]

HOSTILE = [
    "18446744073709551616",
    "9007199254740993",
    "-9007199254740993",
    "123456789012345678901234567890",
    ".inf",
    "-.inf",
    ".nan",
    "1e308",
    "1e309",
    "-1e400",
    "0x7fffffffffffffffffff",
    "!!set {a, b}",
    "!!binary aGVsbG8=",
    "!!timestamp 2024-01-01",
    "2024-01-01",
    "2024-01-01T10:00:00Z",
    "!custom x",
    "!!python/object:os.system x",
    "&a [*a]",
    "&b {k: *b}",
    "*undefined",
    "&c 1",
    "{<<: {a: 1}, b: 2}",
    "[" * 40 + "]" * 40,
    "[" * 300 + "]" * 300,
    "{? [1, 2]: 3}",
    "{1: 2}",
    "{null: 1}",
    "[1, 2",
    '"unterminated',
    "'${var.stack}'",
    "${var.nope}",
    "${var.replicas}${var.replicas}",
    "${",
    "$${x}",
    "${env.HOME}",
    '"\\u0000"',
    '"\\ud800"',
    '"\\U0001F600"',
    "~",
    "yes",
    "- - -",
    "|\n  block",
    "\t1",
    "@",
    "`x`",
    "%TAG",
    "---",
    "...",
    "''",
    "[]",
    "{}",
    "true",
    "-0.0",
    "0.30000000000000004",
    "1_000",
]

scalar = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@st.composite
def edit(draw: st.DrawFn) -> tuple[Any, ...]:
    op = draw(st.sampled_from(["value", "value", "value", "insert", "delete", "truncate", "bytes", "replace"]))
    return (op, draw(st.sampled_from(FILES)), draw(st.integers(0, 10_000)), draw(scalar), draw(st.binary(max_size=24)))


def apply_edit(root: Path, op: str, rel: str, pos: int, value: str, junk: bytes) -> None:
    path = root / rel
    data = path.read_bytes()
    lines = data.split(b"\n")
    i = pos % len(lines)
    v = value.encode("utf-8", errors="surrogateescape")
    if op == "value":
        head, sep, _ = lines[i].partition(b":")
        lines[i] = head + b": " + v if sep else lines[i] + b" " + v
    elif op == "insert":
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines.insert(i, indent + b"k" + str(pos).encode() + b": " + v)
    elif op == "delete":
        del lines[i]
    elif op == "truncate":
        data = data[: pos % (len(data) + 1)]
        path.write_bytes(data)
        return
    elif op == "bytes":
        lines[i] = lines[i][: pos % (len(lines[i]) + 1)] + junk
    else:  # the whole file becomes the value
        path.write_bytes(v + b"\n")
        return
    path.write_bytes(b"\n".join(lines))


COMMAND = typer.main.get_command(app)
"""The click command, built once: typer's runner rebuilds it from the annotations on every
invoke, which took four fifths of a case."""


def invoke(args: list[str]) -> Result:
    from unittest import mock

    with mock.patch("typer.testing._get_command", lambda _: COMMAND):
        return CliRunner().invoke(app, args)


def run_json(root: Path, *args: str) -> int:
    result = invoke([*args, "-C", str(root), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args[0]} raised {result.exception!r}\n{result.output}"
    )
    assert result.exit_code in (0, 1), f"{args[0]} exited {result.exit_code}\n{result.output}"
    try:
        payload = json.loads(result.stdout)
    except ValueError as exc:
        raise AssertionError(f"{args[0]} --format json printed no JSON ({exc}):\n{result.output}") from None
    assert isinstance(payload, dict)
    if result.exit_code == 1 and "errors" in payload:
        for err in payload["errors"]:
            assert err["message"] and err["code"], err
    return result.exit_code


def snapshot(compiled: Compiled) -> dict[str, Any]:
    """What a compile gives, in comparable form."""
    g = compiled.graph
    return {
        "nodes": {
            str(n): (node.kind, node.file, node.index, node.data, compiled.fingerprints[n])
            for n, node in g.nodes.items()
        },
        "edges": sorted((str(e.source), str(e.target), e.kind, tuple(map(str, e.path))) for e in g.edges),
        "order": [str(n) for n in g.topo_order()],
        "warnings": [d.to_json() for d in compiled.warnings],
    }


def outcome(root: Path, use_cache: bool) -> tuple[str, Any]:
    """A compile's result, or its diagnostics when it refuses (graph rules `validate` skips)."""
    try:
        return "ok", snapshot(compile_graph(root, use_cache=use_cache))
    except ModelplaneError as exc:
        return "error", [d.to_json() for d in exc.diagnostics]


def assert_cache_equals_fresh(root: Path) -> None:
    # nothing remembered in this process may stand in for the fresh compile
    spec_cache._PROCESS_CACHES.clear()
    spec_cache._OPENED.clear()
    fresh = outcome(root, use_cache=False)
    shutil.rmtree(root / ".modelplane" / "cache", ignore_errors=True)
    spec_cache._OPENED.clear()
    first = outcome(root, use_cache=True)  # parses, fills both caches
    spec_cache._OPENED.clear()
    from_graph_cache = outcome(root, use_cache=True)
    for stale in (root / ".modelplane" / "cache").glob("graph-*.json"):
        stale.unlink()
    spec_cache._OPENED.clear()
    from_spec_cache = outcome(root, use_cache=True)
    assert first == fresh
    assert from_graph_cache == fresh
    assert from_spec_cache == fresh


@settings(
    max_examples=EXAMPLES_COUNT,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(edits=st.lists(edit(), min_size=1, max_size=4))
def test_fuzzed_specs_and_project_never_crash(edits: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".modelplane"))
        for e in edits:
            apply_edit(root, *e)
        code = run_json(root, "validate")
        plan_code = run_json(root, "plan", "--no-cache")
        if code == 0:
            assert plan_code in (0, 1)
            assert_cache_equals_fresh(root)
        if LOG:  # one line per case: how a long run counts what it covered
            with open(LOG, "a") as f:
                f.write(f"{code} {plan_code}\n")


json_scalar = st.one_of(
    st.floats(min_value=-1e15, max_value=1e15),  # mostly in range: those reach the caches
    st.sampled_from([-0.0, 5e-324, 2.2250738585072014e-308, 0.1, 1 / 3, 9007199254740992, -9007199254740992]),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),  # and some past it: those are refused
    st.integers(min_value=-(2**70), max_value=2**70),
)


FREE_FLAGS = ("ssl-keyfile", "root-path", "middleware", "tokenizer-revision", "chat-template", "response-role")


@settings(
    max_examples=VALUE_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(values=st.lists(json_scalar, min_size=1, max_size=6), text=st.text(max_size=40))
def test_values_that_validate_come_back_from_the_caches_exactly(values: list[Any], text: str) -> None:
    """Valid-but-awkward values (-0.0, 5e-324, 2^53, unicode, escapes) in free-form fields:
    a compile that accepts them gives the same values fresh, from the spec cache and from
    the graph cache; one that refuses them says where."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".modelplane"))
        serving = root / "specs" / "serving.yaml"
        # real flags of the pinned vLLM the renderer never emits itself (any other name is an unknown-flag error)
        extra = ", ".join(f"{FREE_FLAGS[i]}: {json.dumps(v)}" for i, v in enumerate(values))
        serving.write_text(
            serving.read_text()
            .replace("  engine:\n", f"  engine:\n    extra_args: {{{extra}}}\n", 1)
            .replace("description: Support reply suggestions.", f"description: {json.dumps(text)}", 1)
        )
        code = run_json(root, "validate")
        if code == 1:
            payload = json.loads(invoke(["validate", "-C", str(root), "--format", "json"]).stdout)
            assert {e["code"] for e in payload["errors"]} <= {"number-out-of-range"}, payload
            assert all(e["file"] == "specs/serving.yaml" for e in payload["errors"])
            return
        VALIDATED.append(1)
        assert_cache_equals_fresh(root)
        spec_cache._OPENED.clear()
        node = compile_graph(root, use_cache=True).graph.nodes
        endpoint = next(n for i, n in node.items() if i.kind == "endpoint")
        got = endpoint.data["spec"]["engine"]["extra_args"]
        for i, v in enumerate(values):
            assert type(got[FREE_FLAGS[i]]) is type(v) and repr(got[FREE_FLAGS[i]]) == repr(v)
        assert endpoint.data["metadata"]["description"] == text


def test_the_value_cases_reached_the_caches() -> None:
    """Most value cases must validate, or the cache comparison above compared nothing."""
    if not VALIDATED:  # run alone (-k): run the property here
        test_values_that_validate_come_back_from_the_caches_exactly()
    assert len(VALIDATED) >= VALUE_EXAMPLES // 4


def test_the_unedited_example_validates_and_caches_exactly() -> None:
    """The fuzz baseline: without edits everything passes, so the edits are what the cases test."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".modelplane"))
        assert run_json(root, "validate") == 0
        assert run_json(root, "plan", "--no-cache") == 0
        assert_cache_equals_fresh(root)
