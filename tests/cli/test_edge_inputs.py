"""Issue 30 item 7, the compiler and CLI points: each hostile input gets a clear error, never a traceback.

state.path confined to the project (checked before anything is narrowed), a folder there, a read-only
`.modelplane/`, a QPS per replica that overflows, `{1: a, true: d}`, `graph --format json` on a spec error,
and key lookups in diagnostics linear in the keys of one mapping.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.load.loader import load
from modelplane.errors import SpecError
from tests.conftest import EXAMPLES, strip_modelines

runner = CliRunner()


def quickstart(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    strip_modelines(root)  # the expected lines below are the documents' own
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_state_path_outside_the_project_is_refused_before_any_chmod(tmp_path: Path) -> None:
    root = quickstart(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    victim.chmod(0o644)
    for written in (str(victim), "../victim.txt"):
        (root / "modelplane.yaml").write_text(
            (EXAMPLES / "quickstart" / "modelplane.yaml").read_text() + f"\nstate: {{path: '{written}'}}\n"
        )
        result = runner.invoke(app, ["plan", "-C", str(root)])
        assert result.exit_code == 1, result.output
        assert f"state.path `{written}` in modelplane.yaml is outside the project" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert stat.S_IMODE(victim.stat().st_mode) == 0o644 and victim.read_text() == "mine\n"
    # a symlink inside the project leading out of it is outside too
    (root / "link.db").symlink_to(victim)
    (root / "modelplane.yaml").write_text(
        (EXAMPLES / "quickstart" / "modelplane.yaml").read_text() + "\nstate: {path: link.db}\n"
    )
    result = runner.invoke(app, ["status", "-C", str(root)])
    assert result.exit_code == 1 and "is outside the project" in result.output
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_state_path_naming_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    root = quickstart(tmp_path)
    (root / "folder").mkdir()
    (root / "modelplane.yaml").write_text(
        (EXAMPLES / "quickstart" / "modelplane.yaml").read_text() + "\nstate: {path: folder}\n"
    )
    result = runner.invoke(app, ["plan", "-C", str(root)])
    assert result.exit_code == 1, result.output
    assert "state.path `folder` in modelplane.yaml is a folder" in result.output
    assert "name a file in it" in result.output


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root and unshare -m")
def test_read_only_state_folder_is_a_clear_error(tmp_path: Path) -> None:
    root = quickstart(tmp_path)
    assert runner.invoke(app, ["plan", "-C", str(root)]).exit_code == 0  # .modelplane/ exists, with caches
    (root / ".modelplane").chmod(0o700)
    # root ignores permission bits: a read-only bind mount is read-only for root too
    script = (
        f"mount --bind {root}/.modelplane {root}/.modelplane && "
        f"mount -o remount,bind,ro {root}/.modelplane && "
        f"{sys.executable} -m modelplane status -C {root}"
    )
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mount namespace here")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "cannot open the state file" in out.stderr and "Read-only file system" in out.stderr
    assert "writable" in out.stderr


def test_tiny_qps_per_replica_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    root = quickstart(tmp_path)
    edit(root / "specs" / "serving.yaml", "target_qps_per_replica: 20", "target_qps_per_replica: 5e-324")
    result = runner.invoke(app, ["validate", "-C", str(root), "--format", "json", "--no-cache"])
    assert result.exit_code == 1, result.output
    (error,) = json.loads(result.output)["errors"]
    assert error["file"] == "specs/serving.yaml" and error["line"] == 28
    assert "target_qps_per_replica" in error["message"] and "5e-324" in error["message"]


def test_keys_equal_only_as_python_values_are_not_a_duplicate(tmp_path: Path) -> None:
    root = quickstart(tmp_path)
    edit(
        root / "specs" / "serving.yaml",
        "  description: Support reply suggestions.\n",
        "  description: Support reply suggestions.\n  labels: {1: a, true: d}\n",
    )
    result = runner.invoke(app, ["validate", "-C", str(root), "--format", "json", "--no-cache"])
    assert result.exit_code == 1, result.output
    errors = json.loads(result.output)["errors"]
    assert [e["code"] for e in errors] == ["non-text-key"], errors
    assert errors[0]["line"] == 16


def test_graph_json_prints_a_json_error_document_on_spec_errors(tmp_path: Path) -> None:
    root = quickstart(tmp_path)
    edit(root / "specs" / "serving.yaml", "kind: Endpoint", "kind: Endpiont")
    result = runner.invoke(app, ["graph", "-C", str(root), "--format", "json", "--no-cache"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["errors"][0]["code"] == "unknown-kind"


def _many_keys(root: Path, keys: int) -> float:
    extra = "".join(f"  k{i}: 0\n" for i in range(keys))
    (root / "specs").mkdir(parents=True, exist_ok=True)
    (root / "modelplane.yaml").write_text("name: many\n")
    (root / "specs" / "many.yaml").write_text(
        "apiVersion: modelplane/v1\nkind: Dataset\nmetadata: {name: d, owner: team}\n"
        f"spec:\n  uri: 'file://x'\n  format: jsonl\n{extra}"
    )
    start = time.process_time()
    with pytest.raises(SpecError) as info:
        load(root, use_cache=False)
    took = time.process_time() - start
    unknown = [d for d in info.value.diagnostics if d.code == "unknown-field"]
    assert len(unknown) == keys and unknown[-1].location.line == 6 + keys
    return took


def test_diagnostics_for_many_keys_in_one_mapping_are_linear(tmp_path: Path) -> None:
    """A complexity check, not a timed bound: 4x the keys must cost far less than 16x (quadratic took
    120 s for 40,000 keys; benchmarks/bench_many_keys.py prints the figure)."""
    _many_keys(tmp_path / "warm", 200)  # imports and first-use caches out of the way
    small = min(_many_keys(tmp_path / f"s{i}", 1500) for i in range(2))
    large = min(_many_keys(tmp_path / f"l{i}", 6000) for i in range(2))
    assert large < 9 * small, f"1,500 keys: {small:.2f} s CPU, 6,000 keys: {large:.2f} s CPU (quadratic is 16x)"
