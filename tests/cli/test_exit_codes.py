"""Exit codes (modelplane/exitcodes.py): 0 ok, 1 a user's error, 2 changes only with --detailed-exitcode, 3 a bug
with one line asking for a report; a usage error keeps typer's 2 unless --detailed-exitcode is given (then 1).

The process-level rules (3, the usage rule) live in ``cli.exit.run_main``: they are checked on real processes with
stdout and stderr to pipes, as a CI job runs the command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from modelplane import exitcodes
from modelplane.cli import app
from tests.conftest import EXAMPLES, GitProject

runner = CliRunner()

# a bug planted in the Workspace (a test double of a defect, in a real `modelplane` process)
BUG = (
    "import sys\n"
    "from modelplane import workspace\n"
    "def broken(self):\n"
    "    raise KeyError('kinds')\n"
    "workspace.Workspace.validate = broken\n"
    "sys.argv = ['modelplane', *sys.argv[1:]]\n"
    "from modelplane.quick import main\n"
    "main()\n"
)


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, code: str | None = None) -> Any:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "modelplane", *args]
    environ = {k: v for k, v in os.environ.items() if k != exitcodes.DEBUG_VAR}
    return subprocess.run(cmd, cwd=cwd, env={**environ, **(env or {})}, capture_output=True, text=True, timeout=120)


def test_ok_is_0_and_a_users_error_is_1(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["validate", "-C", str(EXAMPLES / "quickstart")])
    assert ok.exit_code == exitcodes.OK, ok.output
    root = tmp_path / "qs"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    (root / "specs" / "model.yaml").write_text(
        (root / "specs" / "model.yaml").read_text().replace("kind: Model", "kind: Modle")
    )
    bad = runner.invoke(app, ["validate", "-C", str(root)])
    assert bad.exit_code == exitcodes.USER_ERROR, bad.output
    assert "Traceback" not in bad.output


def test_changes_are_2_only_with_detailed_exitcode(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    plain = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD~1"])
    assert plain.exit_code == exitcodes.OK, plain.output
    detailed = runner.invoke(app, ["plan", "-C", str(gp.root), "--base", "HEAD~1", "--detailed-exitcode"])
    assert detailed.exit_code == exitcodes.CHANGES, detailed.output
    # the memoized answer (quick.py, before the CLI is imported) ends the same way, in a real process
    for _ in range(2):  # the first fills the memo, the second is answered from it
        proc = _run(["plan", "--base", "HEAD~1", "--detailed-exitcode"], gp.root)
        assert proc.returncode == exitcodes.CHANGES, proc.stderr
        assert _run(["plan", "--base", "HEAD~1"], gp.root).returncode == exitcodes.OK


def test_a_bug_is_3_with_one_line_asking_for_a_report_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    root = tmp_path / "qs"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    proc = _run(["validate", "--no-cache"], root, code=BUG)
    assert proc.returncode == exitcodes.INTERNAL, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("internal error (a bug in modelplane ") and "KeyError: 'kinds'" in lines[0]
    assert "please report it" in lines[0] and "MODELPLANE_DEBUG=1" in lines[0]
    assert "Traceback" not in proc.stderr

    debug = _run(["validate", "--no-cache"], root, env={exitcodes.DEBUG_VAR: "1"}, code=BUG)
    assert debug.returncode == exitcodes.INTERNAL
    assert "Traceback (most recent call last)" in debug.stderr and "in broken" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("internal error (a bug in modelplane ")


def test_a_usage_error_is_typers_2_but_1_under_detailed_exitcode() -> None:
    root = EXAMPLES / "quickstart"
    usage = _run(["plan", "--no-such-flag"], root)
    assert usage.returncode == exitcodes.USAGE and "No such option" in usage.stderr, usage.stderr
    # there 2 means "changes": a CI script must never read a typo as that
    detailed = _run(["plan", "--detailed-exitcode", "--no-such-flag"], root)
    assert detailed.returncode == exitcodes.USER_ERROR and "No such option" in detailed.stderr, detailed.stderr
    assert _run(["validate", "--format", "yaml"], root).returncode == exitcodes.USAGE


def test_plan_code_is_the_one_mapping() -> None:
    assert [exitcodes.plan_code(c, d) for c in (0, 1, 2) for d in (False, True)] == [0, 0, 1, 1, 0, 2]
