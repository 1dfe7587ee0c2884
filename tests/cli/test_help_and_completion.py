"""`--help` shows flags as flags, and the shell completion script is there (issue 33, papercuts)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modelplane.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        ([], ["--version", "--help", "--show-completion", "--install-completion"]),
        (["apply"], ["--auto-approve", "--detach", "--allow-stale-specs"]),
        (["plan"], ["--detailed-exitcode", "--no-cache"]),
    ],
)
def test_help_shows_flags_without_a_value(args: list[str], flags: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    for flag in flags:
        row = next(line for line in result.output.splitlines() if f" {flag} " in line)
        # the flag is followed by its help, with no value type between them
        assert "<" not in row.split(flag, 1)[1].split("  ", 1)[0], row
    # options that take a value still say which
    if args == ["apply"]:
        assert "<int range>" in result.output and "--parallelism" in result.output


def test_help_keeps_the_extras_brackets() -> None:
    # rich markup read `[lsp]` as a style tag and printed "pip install 'modelplane'"
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    assert "pip install 'modelplane[lsp]'" in result.output


def test_version_is_an_eager_flag() -> None:
    # eager: answered before the command's own arguments are checked
    result = runner.invoke(app, ["--version", "plan", "--no-such-option"])
    assert result.exit_code == 0
    assert result.output.startswith("modelplane ")


def _modelplane(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # the installed entry point's code path, under the name the completion script is written for
    code = "import sys; sys.argv[0] = 'modelplane'; from modelplane.quick import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_show_completion_prints_a_bash_script() -> None:
    # without shell detection the option takes the shell's name (as in typer's own tests)
    done = _modelplane("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert done.returncode == 0, done.stderr
    assert "_modelplane_completion()" in done.stdout
    assert "_MODELPLANE_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F _modelplane_completion modelplane" in done.stdout


def test_the_completion_script_completes_commands_and_options() -> None:
    # what the bash script runs on <TAB>: the program with the words typed so far in the environment
    done = _modelplane(_MODELPLANE_COMPLETE="complete_bash", COMP_WORDS="modelplane ap", COMP_CWORD="1")
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"apply", "approve"}
    done = _modelplane(_MODELPLANE_COMPLETE="complete_bash", COMP_WORDS="modelplane apply --auto", COMP_CWORD="2")
    assert done.stdout.split() == ["--auto-approve"]
