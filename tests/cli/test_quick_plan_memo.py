"""A repeated `plan --base REF` is answered from the plan memo before the CLI is imported (``modelplane.quick``):
the same output and exit code as the CLI's own answer, and anything else is left to the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.quick import _options
from tests.conftest import GitProject


def _run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    code = (
        "import sys, runpy; sys.argv = ['modelplane', *sys.argv[1:]]; runpy.run_module('modelplane', "
        "run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=root, capture_output=True, text=True, env={**os.environ, **env}
    )


def _cli_imported(root: Path, *args: str) -> bool:
    """Whether answering ``args`` imported the CLI (typer and the command groups). A memo hit imports
    neither the CLI nor pydantic and the spec models: it validates nothing."""
    code = (
        "import sys\n"
        "from modelplane.quick import memo_answer\n"
        "code = memo_answer(sys.argv[1:])\n"
        "print(code, 'modelplane.cli.commands' in sys.modules, 'typer' in sys.modules, 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=root, capture_output=True, text=True, check=True)
    code_s, cli, typer, pydantic = out.stdout.splitlines()[-1].split()
    assert cli == typer
    hit = cli == "False" and code_s != "None"
    assert pydantic == ("False" if hit else pydantic), "a memo hit imported pydantic"
    return not hit


def test_a_repeated_plan_is_answered_from_the_memo_without_the_cli(
    git_example: Callable[[str], GitProject],
) -> None:
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    for args in (["plan", "--base", "HEAD~1"], ["plan", "--base", "HEAD~1", "--detailed-exitcode"]):
        first = _run(gp.root, *args)  # a miss: the CLI compiles, answers and stores the memo
        assert _cli_imported(gp.root, *args) is False  # now answered before the CLI is imported
        again = _run(gp.root, *args)
        assert (again.returncode, again.stdout, again.stderr) == (first.returncode, first.stdout, first.stderr)
        assert first.returncode == (2 if "--detailed-exitcode" in args else 0)
        assert '"1.0.0" -> "1.1.0"' in first.stdout
    # with timings asked for, the CLI answers (its report is part of the output)
    timed = _run(gp.root, "plan", "--base", "HEAD~1", MODELPLANE_TIMINGS="1")
    assert "timings:" in timed.stderr
    # a changed head is a miss: the CLI compiles again, and says what changed now
    gp.edit("specs/model.yaml", 'version: "1.1.0"', 'version: "1.2.0"')
    assert _cli_imported(gp.root, "plan", "--base", "HEAD~1") is True
    fresh = _run(gp.root, "plan", "--base", "HEAD~1")
    assert '"1.0.0" -> "1.2.0"' in fresh.stdout


def test_a_changed_project_file_is_a_miss_until_the_cli_has_answered_it(
    git_example: Callable[[str], GitProject],
) -> None:
    """The warm path knows a project file only by the hash of its bytes: the recipe (spec globs, limits,
    environments) the CLI kept for them. New bytes are a miss; once the CLI answered, the same answer."""
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    first = _run(gp.root, "plan", "--base", "HEAD~1")
    assert _cli_imported(gp.root, "plan", "--base", "HEAD~1") is False
    project = (gp.root / "modelplane.yaml").read_text()
    (gp.root / "modelplane.yaml").write_text(project + "# a comment changes the bytes, not the meaning\n")
    assert _cli_imported(gp.root, "plan", "--base", "HEAD~1") is True
    again = _run(gp.root, "plan", "--base", "HEAD~1")
    assert again.stdout == first.stdout and again.returncode == first.returncode
    assert _cli_imported(gp.root, "plan", "--base", "HEAD~1") is False
    # an environment the project file does not have goes to the CLI, which says so
    assert _cli_imported(gp.root, "plan", "--base", "HEAD~1", "--env", "nope") is True
    nope = _run(gp.root, "plan", "--base", "HEAD~1", "--env", "nope")
    assert nope.returncode == 1 and "no environment `nope`" in nope.stderr


def test_a_bad_ref_is_reported_by_the_cli(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    bad = _run(gp.root, "plan", "--base", "no-such-ref")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: `--base no-such-ref`: no such commit, branch or tag")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["plan", "--base", "main"], ("main", None, False)),
        (["plan", "--env", "prod", "--base", "main", "--detailed-exitcode"], ("main", "prod", True)),
        (["plan", "-e", "dev", "--base", "HEAD~1"], ("HEAD~1", "dev", False)),
        (["plan"], None),
        (["plan", "--base"], None),
        (["plan", "--base", "main", "--format", "json"], None),
        (["plan", "--base", "main", "--base", "other"], None),
        (["plan", "--base", "main", "-C", "dir"], None),
        (["plan", "--base", "--help"], None),
        (["validate"], None),
        ([], None),
    ],
)
def test_only_the_plain_form_is_recognised(args: list[str], expected: tuple[str, str | None, bool] | None) -> None:
    assert _options(args) == expected


def _answer(root: Path, args: list[str], *, through_typer: bool) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, typer imported) of ``modelplane ARGS`` with no memo kept: by the entry point
    (whose fast path runs `plan --base` without typer) or by the typer app itself."""
    import shutil

    shutil.rmtree(root / ".modelplane" / "cache" / "plans", ignore_errors=True)
    entry = "from modelplane.cli import main" if through_typer else "from modelplane.quick import main"
    code = (
        "import os, sys\n"
        "real = os._exit\n"
        "def reported(code):\n"
        "    sys.stdout.flush(); sys.stderr.write(f'\\ntyper imported: {\"typer\" in sys.modules}'); sys.stderr.flush()\n"
        "    real(code)\n"
        "os._exit = reported\n"
        f"{entry}\n"
        "sys.argv = ['modelplane', *sys.argv[1:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    reported(exc.code if isinstance(exc.code, int) else 1)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=root, capture_output=True, text=True)
    err, _, imported = out.stderr.rpartition("\ntyper imported: ")
    return out.returncode, out.stdout, err, imported == "True"


def test_the_fast_path_runs_plan_as_the_cli_does_without_typer(git_example: Callable[[str], GitProject]) -> None:
    """On a memo miss ``plan --base REF`` runs without importing typer, and says and exits exactly as the typer
    app does: changes, --detailed-exitcode, a spec error, a bad ref, an unknown environment."""
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    cases = [
        (["plan", "--base", "HEAD~1"], 0),
        (["plan", "--base", "HEAD~1", "--detailed-exitcode"], 2),
        (["plan", "-e", "nope", "--base", "HEAD~1"], 1),
        (["plan", "--base", "no-such-ref", "--detailed-exitcode"], 1),
    ]
    for args, code in cases:
        fast = _answer(gp.root, args, through_typer=False)
        cli = _answer(gp.root, args, through_typer=True)
        assert fast[:3] == cli[:3], args
        assert fast[0] == code, (args, fast)
        assert (fast[3], cli[3]) == (False, True), args
    gp.edit("specs/model.yaml", 'version: "1.1.0"', "version: [1.2.0")  # a YAML error in the head
    fast = _answer(gp.root, ["plan", "--base", "HEAD~1"], through_typer=False)
    assert fast[:3] == _answer(gp.root, ["plan", "--base", "HEAD~1"], through_typer=True)[:3]
    assert fast[0] == 1 and "specs/model.yaml" in fast[2]


def _ended(root: Path, *, through_typer: bool, interrupt: bool) -> tuple[int, str]:
    """(exit code, stderr) of ``plan --base HEAD~1`` with no memo kept, by either path: interrupted by Ctrl-C while
    planning (``interrupt``), or with its reader gone before it writes (stdout's pipe closed, as `plan | true`)."""
    import shutil

    shutil.rmtree(root / ".modelplane" / "cache" / "plans", ignore_errors=True)
    entry = "from modelplane.cli import main" if through_typer else "from modelplane.quick import main"
    code = (
        "import sys\n"
        + (
            "from modelplane.workspace import Workspace\n"
            "def interrupted(*args, **kwargs):\n"
            "    raise KeyboardInterrupt\n"
            "Workspace.plan = interrupted\n"
            if interrupt
            else ""
        )
        + f"{entry}\n"
        "sys.argv = ['modelplane', 'plan', '--base', 'HEAD~1']\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # no reader: its first write (or the last flush) meets a closed pipe
    err = proc.stderr.read()
    return proc.wait(), err


def test_ctrl_c_and_a_closed_pipe_end_the_fast_path_as_typer_ends_them(
    git_example: Callable[[str], GitProject],
) -> None:
    """Ctrl-C exits 130 and a reader that went away (`plan | head`) exits 1, both without a traceback or a bug
    report, whether typer runs the command or the entry point's fast path does."""
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0"')
    gp.commit("tiny-chat 1.1.0")
    for through_typer in (True, False):
        code, err = _ended(gp.root, through_typer=through_typer, interrupt=True)
        assert (code, err) == (130, ""), (through_typer, err)
        code, err = _ended(gp.root, through_typer=through_typer, interrupt=False)
        assert code == 1, (through_typer, code, err)
        assert "Traceback" not in err and "internal error" not in err, (through_typer, err)


def test_the_cli_package_builds_the_typer_app_only_when_asked() -> None:
    """Importing a module of ``modelplane.cli`` (the fast path imports ``plan_command``) imports no typer; the app is
    there when asked for, and listed (typer's own CLI finds an app by listing the module)."""
    code = (
        "import sys\n"
        "import modelplane.cli, modelplane.cli.plan_command\n"
        "before = 'typer' in sys.modules\n"
        "listed = 'app' in dir(modelplane.cli)\n"
        "from modelplane.cli import app\n"
        "print(before, listed, type(app).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "Typer"]
