"""`pip install modelplane` is the compiler and the CLI; a command whose extra is missing names it (issue 33).

The extras' packages are installed here, so a meta-path finder in the child process makes them
unimportable, as on a base install: `ModuleNotFoundError` on import, nothing found by `find_spec`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from modelplane.extras import EXTRA_OF_MODULE, command_of
from tests.conftest import EXAMPLES, REPO

BLOCKER = """\
import sys
from importlib.abc import MetaPathFinder

BLOCKED = set(sys.argv[1].split(","))


class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
for name in [m for m in sys.modules if m.split(".", 1)[0] in BLOCKED]:
    del sys.modules[name]
sys.argv = ["modelplane", *sys.argv[2:]]
from modelplane.quick import main

main()
"""

RUNTIME = sorted(m for m, extra in EXTRA_OF_MODULE.items() if extra != "lsp")


def _run(blocked: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(blocked), *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    return root


def test_apply_without_temporalio_names_the_extra(quickstart: Path) -> None:
    done = _run(["temporalio"], "apply", "--auto-approve", cwd=quickstart)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "error: `modelplane apply` needs the `local` extra (temporalio is not installed): "
        "pip install 'modelplane[local]'"
    )
    assert done.stdout == ""  # said before anything is planned
    assert not (quickstart / ".modelplane" / "state.db").exists()


def test_a_missing_extra_met_inside_a_command_names_it_too(quickstart: Path) -> None:
    # `graph` needs no extra: an import of one deep in a command still ends in the one-line message
    code = "from modelplane.cli import exit; import sys; sys.argv = ['modelplane', 'stack', 'preview']\n"
    code += "try:\n    import pulumi_gcp\nexcept ModuleNotFoundError as e:\n    exit.missing_extra(e)\n"
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER.replace("from modelplane.quick import main\n\nmain()\n", code), "pulumi_gcp"],
        cwd=quickstart,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "`modelplane stack preview` needs the `gcp` extra (pulumi_gcp is not installed)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["validate"], "✓ 8 specs valid"),
        (["plan"], "service/support-bot"),
        (["graph"], "endpoint/tiny-chat"),
        (["fmt", "--check"], "already formatted"),
        (["history"], "no applies on quickstart/dev yet"),
        (["apply", "--help"], "--auto-approve"),
    ],
)
def test_the_compiler_commands_run_on_a_base_install(quickstart: Path, args: list[str], expect: str) -> None:
    done = _run(RUNTIME, *args, cwd=quickstart)
    assert done.returncode in (0, 1) and "needs the" not in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr
    assert expect in done.stdout + done.stderr
    if args[0] in ("validate", "plan", "graph", "history"):
        assert done.returncode == 0


def test_every_extra_named_is_declared_and_commands_are_read_from_the_command_line() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_OF_MODULE.values()) <= set(declared)
    assert "modelplane[local,stacks,lsp]" in declared["dev"]  # `[dev]` still installs what the tests need
    assert command_of(["apply", "-C", "x"]) == "modelplane apply"
    assert command_of(["stack", "preview", "prod"]) == "modelplane stack preview"
    assert command_of(["--version"]) == "modelplane"
