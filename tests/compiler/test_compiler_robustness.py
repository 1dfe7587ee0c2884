"""Values JSON cannot carry, YAML constructs the fast parser would mangle, and inputs that blow up
are errors at their line (validate and plan agree, `--format json` stays JSON), never crashes."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.load.loader import load
from modelplane.compiler.source import positions
from modelplane.errors import SpecError
from tests.conftest import EXAMPLES, strip_modelines

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    strip_modelines(root)  # the expected lines below are the documents' own
    return root


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def run(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, [*args, "-C", str(root), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, json.loads(result.stdout)


def errors_of(root: Path) -> list[dict[str, Any]]:
    """validate's JSON errors; plan must fail with the same ones (not crash, as `.inf` used to)."""
    code, payload = run(root, "validate", "--no-cache")
    assert code == 1, payload
    plan_code, plan_payload = run(root, "plan", "--no-cache")
    assert plan_code == 1 and plan_payload["errors"] == payload["errors"]
    errors: list[dict[str, Any]] = payload["errors"]
    for err in errors:
        assert err["hint"], err
    return errors


def where(errors: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    return [(e["code"], e["file"], e["line"], e["column"]) for e in errors]


MODEL = "specs/model.yaml"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("18446744073709551616", "the number `18446744073709551616` is outside the safe range"),  # >= 2^64
        ("9007199254740993", "the number `9007199254740993` is outside the safe range"),  # 2^53 + 1
        ("-9007199254740993", "the number `-9007199254740993` is outside the safe range"),
    ],
)
def test_integers_past_the_safe_range_are_errors_at_their_line(project: Path, value: str, shown: str) -> None:
    edit(project, MODEL, "context_length: 2048", f"context_length: {value}")
    errors = errors_of(project)
    assert where(errors) == [("number-out-of-range", MODEL, 24, 19)]
    assert errors[0]["message"] == f"spec.context_length: {shown}"
    assert "quote the value" in errors[0]["hint"]


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e308", "1e309"])
def test_inf_nan_and_overflowing_floats_in_numeric_fields_fail_validate_not_plan(project: Path, value: str) -> None:
    """Before: validate passed and plan crashed (int(inf) in the GPU arithmetic)."""
    edit(project, MODEL, "parameters_b: 0.5", f"parameters_b: {value}")
    errors = errors_of(project)
    assert where(errors) == [("number-out-of-range", MODEL, 22, 17)]
    assert errors[0]["message"].startswith("spec.parameters_b: ")


def test_numbers_inside_the_range_and_quoted_big_ids_still_validate(project: Path) -> None:
    edit(project, MODEL, "context_length: 2048", "context_length: 9007199254740992")
    edit(project, MODEL, "parameters_b: 0.5", "parameters_b: 1.0e-300")
    edit(project, MODEL, "description: A small", 'labels: {id: "18446744073709551616"}\n  description: A small')
    code, payload = run(project, "validate", "--no-cache")
    assert code == 0, payload


def test_self_referencing_aliases_are_errors(project: Path) -> None:
    edit(project, MODEL, "  trained_on:\n", "  extra: &loop [1, *loop]\n  trained_on:\n")
    errors = errors_of(project)
    assert where(errors) == [("recursive-alias", MODEL, 25, 20)]
    assert errors[0]["message"] == "alias `*loop` refers to the collection that contains it"


def test_plain_aliases_still_work(project: Path) -> None:
    edit(project, MODEL, "context_length: 2048", "context_length: &ctx 2048\n  # reuse\n")
    edit(project, MODEL, "    datasets: [support-pairs]", "    datasets: &ds [support-pairs]")
    code, payload = run(project, "validate", "--no-cache")
    assert code == 0, payload


@pytest.mark.parametrize(
    ("value", "tag"),
    [("!!set {a, b}", "!!set"), ("!!binary aGVsbG8=", "!!binary"), ("!custom x", "!custom"), ("!!omap []", "!!omap")],
)
def test_yaml_types_json_cannot_carry_are_errors(project: Path, value: str, tag: str) -> None:
    edit(project, "specs/data.yaml", "format: jsonl", f"format: {value}")
    errors = errors_of(project)
    assert where(errors) == [("unsupported-tag", "specs/data.yaml", 9, 11)]
    assert errors[0]["message"] == f"YAML tag `{tag}` is not supported: specs hold only JSON values"


def test_timestamps_where_text_is_meant_stay_text(project: Path) -> None:
    """YAML 1.2: an unquoted date is text (the dataset version here), never a datetime."""
    edit(project, "specs/data.yaml", 'version: "2026-11-01"', "version: 2026-11-01")
    specs = load(project, use_cache=False)
    data = next(n for n in specs.nodes.values() if n.name == "support-tickets").data
    assert data["spec"]["version"] == "2026-11-01"
    edit(project, "specs/data.yaml", "version: 2026-11-01", "version: !!timestamp 2026-11-01")
    assert errors_of(project)[0]["file"] == "specs/data.yaml"


def test_merge_keys_are_rejected_with_a_hint(project: Path) -> None:
    edit(project, MODEL, "  trained_on:\n", "  <<: {dtype: bf16}\n  trained_on:\n")
    errors = errors_of(project)
    assert where(errors) == [("merge-key", MODEL, 25, 3)]
    assert "overrides" in errors[0]["hint"]


def test_non_text_keys_and_complex_keys_are_errors(project: Path) -> None:
    edit(project, MODEL, "  trained_on:\n", "  extra: {1: a}\n  trained_on:\n")
    assert [e["code"] for e in errors_of(project)] == ["non-text-key"]
    edit(project, MODEL, "  extra: {1: a}\n", "  extra: {[1, 2]: a}\n")
    [err] = errors_of(project)
    assert err["code"] == "non-text-key" and "a list or mapping" in err["message"]
    edit(project, MODEL, "  extra: {[1, 2]: a}\n", "  extra: {[1, !!int 2]: a}\n")  # a tag makes the event scan run
    assert [e["code"] for e in errors_of(project)] == ["complex-key"]


def test_project_file_values_are_checked_the_same_way(project: Path) -> None:
    edit(project, "modelplane.yaml", "replicas: 2", "replicas: .inf")
    code, payload = run(project, "validate")
    assert code == 1
    assert where(payload["errors"]) == [("number-out-of-range", "modelplane.yaml", 6, 13)]
    edit(project, "modelplane.yaml", "replicas: .inf", "replicas: &r [*r]")
    code, payload = run(project, "plan")
    assert code == 1 and payload["errors"][0]["code"] == "recursive-alias"


def test_huge_interpolation_counts_toward_the_size_limit(project: Path) -> None:
    """One 200 KB variable used 2,000 times used to build ~400 MB of strings (826 MB peak)."""
    edit(project, "modelplane.yaml", "replicas: 2", "replicas: 2\n  big: " + "x" * 200_000)
    edit(
        project,
        "specs/data.yaml",
        "description: Raw customer support tickets, exported nightly.",
        'description: "' + "${var.big}" * 2000 + '"',
    )
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as caught:
            load(project, use_cache=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    diag = caught.value.diagnostics[0]
    assert diag.code == "interpolation-too-large" and diag.location is not None
    # the sixth 200 KB reference is the one that crosses the 1 MiB default
    assert (diag.location.file, diag.location.line, diag.location.column) == ("specs/data.yaml", 6, 17 + 5 * 10)
    assert "limits.max_file_bytes" in diag.message
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # (the document is dropped, so what references it is reported too)
    assert where(errors_of(project))[0] == ("interpolation-too-large", "specs/data.yaml", 6, 67)


def test_interpolation_within_the_limit_still_works(project: Path) -> None:
    edit(project, "modelplane.yaml", "replicas: 2", "replicas: 2\n  word: abc")
    edit(
        project,
        "specs/data.yaml",
        "description: Raw customer support tickets, exported nightly.",
        'description: "' + "${var.word}" * 100 + '"',
    )
    specs = load(project, use_cache=False)
    data = next(n for n in specs.nodes.values() if n.name == "support-tickets").data
    assert data["metadata"]["description"] == "abc" * 100


def test_ten_thousand_bad_documents_report_each_once_in_linear_work(project: Path) -> None:
    """Each diagnostic used to split the whole file into lines again (17-38 s for 10,000):
    the file's lines are split once now, whatever the number of errors."""
    edit(project, "modelplane.yaml", "variables:", "limits: {max_file_bytes: 10485760}\nvariables:")
    (project / "specs" / "bad.yaml").write_text("".join(f"---\nfoo: {i}\n" for i in range(10_000)))
    positions.text_lines.cache_clear()
    with pytest.raises(SpecError) as caught:
        load(project, use_cache=False)
    diags = caught.value.diagnostics
    assert len(diags) == 10_000 and {d.code for d in diags} == {"missing-kind"}
    assert [d.location.line for d in diags[:3] if d.location] == [2, 4, 6]
    info = positions.text_lines.cache_info()
    assert info.misses == 1 and info.hits >= 10_000 - 1


def test_deep_nesting_is_an_error_not_a_recursion_crash(project: Path) -> None:
    edit(project, MODEL, "  trained_on:\n", "  extra: " + "[" * 100 + "]" * 100 + "\n  trained_on:\n")
    assert [e["code"] for e in errors_of(project)] == ["too-deep"]
    edit(project, MODEL, "[" * 100 + "]" * 100, "[" * 3000 + "]" * 3000)
    for command in ("validate", "plan"):
        code, payload = run(project, command, "--no-cache")
        assert code == 1 and payload["errors"][0]["code"] == "yaml-syntax"  # the parsers' own depth limit


def test_a_self_referencing_alias_beside_a_duplicate_key_is_an_error_not_a_hang(project: Path) -> None:
    """Found by a 5,000-case fuzz run: locating the duplicate key walked the composed nodes without
    noting those already seen, so an alias inside its own collection looped for ever."""
    import subprocess
    import sys

    edit(project, MODEL, "spec:\n", "spec:\n  loop: &a [1, *a]\n  version: 1.0.0\n")
    out = subprocess.run(
        [sys.executable, "-m", "modelplane", "validate", "--no-cache", "--format", "json", "-C", str(project)],
        capture_output=True,
        text=True,
        timeout=120,  # a hang is the failure here (it used to loop until killed), not a speed target
    )
    assert out.returncode == 1, out.stderr
    codes = {e["code"] for e in json.loads(out.stdout)["errors"]}
    assert "recursive-alias" in codes, codes


def test_a_kind_written_as_a_mapping_is_a_diagnostic_not_a_crash(project: Path) -> None:
    """Also from the long fuzz run: an unhashable `kind` reached a dict lookup (TypeError)."""
    edit(project, MODEL, "kind: Model", "kind: {Model: 1}")
    errors = errors_of(project)
    assert any(e["file"] == MODEL for e in errors), errors
