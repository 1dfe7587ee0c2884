"""`modelplane fmt` (issue 33, item 6): canonical key order and spellings, comments kept, idempotent, and a
formatted project compiles to the same graph (the same node fingerprints) as before."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.compile import compile_graph
from modelplane.compiler.format.text import format_text
from tests.compiler.test_forgiving_dialect import SPECS
from tests.conftest import EXAMPLES

MakeProject = Callable[..., Path]
runner = CliRunner()


def _fmt(text: str) -> str:
    result = format_text("specs/all.yaml", text)
    assert result.problems == []
    return result.text


def test_the_forgiving_dialect_is_written_canonically_and_compiles_the_same(make_project: MakeProject) -> None:
    out = _fmt(SPECS)
    for canonical in (
        'version: "7"',  # a number where the field is text
        "freshness: 7d",  # 1w
        "{name: id, type: int64}",
        "{name: score, type: float64}",
        "{name: body, type: string}",
        "{name: at, type: timestamp}",
        "{name: ok, type: bool}",
        'command: ["python3", "train.py", "--name", "my run", "--epochs", "2"]',  # a command string, split
        "timeout: 1h30m",  # 90m
        'version: "1.5"',  # a float, as written
        "trained_on: {datasets: [events], workflow: train}",  # `kind/name` where the kind is fixed
        "model: chat",
        'command: [python3, eval.py, --n, "2"]',  # an argument that YAML reads as a number
        "stack: local",
        "accelerator: L4",
        "{weight: 10, pause: 2m}",  # 120s
    ):
        assert canonical in out, (canonical, out)
    for spelling in ("1w", "90m", "120s", "VARCHAR", "model: model/chat", "stack/local", "accelerator: l4"):
        assert spelling not in out, spelling
    # `inputs` may name any kind: `dataset/events` is its one spelling there
    assert "inputs: [dataset/events]" in out
    assert _fmt(out) == out  # idempotent
    before = compile_graph(make_project({"specs/all.yaml": SPECS}), use_cache=False)
    after = compile_graph(make_project({"specs/all.yaml": out}), use_cache=False)
    assert after.fingerprints == before.fingerprints
    assert [n.data for n in after.graph.nodes.values()] == [n.data for n in before.graph.nodes.values()]


SHUFFLED = """\
# yaml-language-server: $schema=../schemas/spec.json
# the model we serve
spec:
  # the weights
  artifact: hf://org/chat@v1  # pinned
  trained_on:
    datasets: [events]
    # no workflow yet
  # what people call it
  version: 1.0.0
metadata:
  owner: team-ml  # pages on call
  # the name is its id
  name: chat
kind: Model
apiVersion: modelplane/v1
"""


def test_keys_take_the_models_order_and_each_comment_moves_with_its_key() -> None:
    out = _fmt(SHUFFLED)
    assert out == (
        "# yaml-language-server: $schema=../schemas/spec.json\n"
        "# the model we serve\n"
        "apiVersion: modelplane/v1\n"
        "kind: Model\n"
        "metadata:\n"
        "  # the name is its id\n"
        "  name: chat\n"
        "  owner: team-ml  # pages on call\n"
        "spec:\n"
        "  # what people call it\n"
        "  version: 1.0.0\n"
        "  # the weights\n"
        "  artifact: hf://org/chat@v1  # pinned\n"
        "  trained_on:\n"
        "    datasets: [events]\n"
        "    # no workflow yet\n"
    ), out
    assert _fmt(out) == out


@pytest.mark.parametrize(
    ("example", "env"), [("quickstart", "dev"), ("assistant-platform", "dev"), ("assistant-platform", "prod")]
)
def test_every_example_formats_to_the_same_graph(tmp_path: Path, example: str, env: str) -> None:
    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns(".modelplane"))
    before = compile_graph(root, env, use_cache=False)
    result = runner.invoke(app, ["fmt", "-C", str(root)])
    assert result.exit_code == 0, result.output
    texts = {p: p.read_text() for p in root.rglob("specs/**/*.yaml")}
    comments = {
        p: [
            line.strip()
            for line in (EXAMPLES / p.relative_to(tmp_path)).read_text().splitlines()
            if line.strip().startswith("#")
        ]
        for p in texts
    }
    for p, text in texts.items():
        # every full-line comment is still there
        assert all(c in text for c in comments[p]), p
    after = compile_graph(root, env, use_cache=False)
    assert after.fingerprints == before.fingerprints
    again = runner.invoke(app, ["fmt", "-C", str(root), "--check"])
    assert again.exit_code == 0, again.output  # formatting twice is formatting once
    assert {p: p.read_text() for p in texts} == texts


def test_check_and_diff_change_nothing_and_exit_1(make_project: MakeProject) -> None:
    root = make_project({"specs/all.yaml": SPECS, "specs/ok.yaml": _fmt(SPECS)})
    check = runner.invoke(app, ["fmt", "-C", str(root), "--check"])
    assert check.exit_code == 1
    assert "would reformat specs/all.yaml" in check.output and "specs/ok.yaml" not in check.stdout
    assert "1 file would be reformatted, 1 already formatted" in check.output
    diff = runner.invoke(app, ["fmt", "-C", str(root), "--diff"])
    assert diff.exit_code == 1
    assert "--- a/specs/all.yaml\n+++ b/specs/all.yaml\n" in diff.stdout
    assert "-  freshness: 1w\n" in diff.stdout and "+  freshness: 7d\n" in diff.stdout
    assert (root / "specs/all.yaml").read_text() == SPECS
    done = runner.invoke(app, ["fmt", "-C", str(root)])
    assert done.exit_code == 0 and "reformatted specs/all.yaml" in done.output
    assert (root / "specs/all.yaml").read_text() == _fmt(SPECS)
    # files named on the command line, directories included
    assert runner.invoke(app, ["fmt", "--check", str(root / "specs")]).exit_code == 0


def test_bad_yaml_is_an_error_at_its_place_and_the_file_stays(make_project: MakeProject) -> None:
    bad = "apiVersion: modelplane/v1\nkind: Model\nmetadata: {name: chat, owner: team-ml\nspec: {}\n"
    root = make_project({"specs/bad.yaml": bad, "specs/all.yaml": SPECS})
    result = runner.invoke(app, ["fmt", "-C", str(root)])
    assert result.exit_code == 1
    assert re.search(r"--> specs/bad\.yaml:\d+:\d+\n", result.output) and "error[yaml-syntax]" in result.output
    assert "Traceback" not in result.output
    assert (root / "specs/bad.yaml").read_text() == bad
    assert (root / "specs/all.yaml").read_text() == _fmt(SPECS)  # the others are formatted
