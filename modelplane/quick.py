"""The `modelplane` entry point: `plan --base REF` runs without the CLI framework, and a repeated one is answered
from the plan memo.

A warm `plan --base` (CI or an editor asking again about the same commit) is a memo hit: a stat pass over
the spec files, a git lookup and the stored output. It validates nothing, so it imports neither pydantic nor
the spec models: the project file is known by the hash of its bytes, whose recipe the CLI kept (plan_memo).
The CLI framework around it cost more than that (typer and every command group imported, then each option
coerced through a pydantic TypeAdapter: ~0.2 s of a ~0.4 s warm plan). So the one common form, ``plan --base
REF`` with at most ``--env E`` and ``--detailed-exitcode``, is recognised here. On a memo hit its stored
output is written and the process ends with the exit code the command would give. On a miss, a problem of
any kind, or ``MODELPLANE_TIMINGS`` (whose report the command adds), the command runs here as typer's `plan`
runs it (``cli.plan_command.run_plan`` under ``cli.exit.run_main``), sparing typer's import and coercion
(~40 ms of a cold plan). Any other command line goes to the CLI (``modelplane.cli.main``).
"""

from __future__ import annotations

import os
import sys


def _options(args: list[str]) -> tuple[str, str | None, bool] | None:
    """(base, env, detailed) of ``plan --base REF [--env E] [--detailed-exitcode]``, in any order; None for
    any other command line."""
    if not args or args[0] != "plan":
        return None
    base: str | None = None
    env: str | None = None
    detailed = False
    rest = args[1:]
    while rest:
        flag = rest.pop(0)
        if flag == "--detailed-exitcode" and not detailed:
            detailed = True
        elif flag == "--base" and base is None and rest and not rest[0].startswith("-"):
            base = rest.pop(0)
        elif flag in ("--env", "-e") and env is None and rest and not rest[0].startswith("-"):
            env = rest.pop(0)
        else:
            return None
    return (base, env, detailed) if base is not None else None


def memo_answer(args: list[str]) -> int | None:
    """Write the stored output of a memoized ``plan --base`` and return its exit code; None where the command
    must run (not that command line, no memo, a timings report asked for, or anything unexpected)."""
    options = _options(args)
    if options is None or os.environ.get("MODELPLANE_TIMINGS"):
        return None
    base, env, detailed = options
    from pathlib import Path

    from modelplane import plan_memo
    from modelplane.cli.formats import color
    from modelplane.compiler.source.files import FileSource, GitSource
    from modelplane.compiler.source.inputs import PROJECT_FILE_MAX_BYTES, digest, find_root, fingerprint, read_inputs
    from modelplane.files import PROJECT_FILE

    git = None
    try:
        root = find_root(Path.cwd())
        source = FileSource(root)
        raw = source.read_limited(PROJECT_FILE, PROJECT_FILE_MAX_BYTES)
        if raw is None:
            return None
        project_hash = digest(raw)
        # what the validated project file said, kept by the CLI for these exact bytes (no pydantic here)
        found = plan_memo.recipe(root, project_hash, env)
        if found is None:
            return None
        recipe, environment = found
        inputs = read_inputs(source, recipe)
        if inputs.problems:
            return None
        git = GitSource.for_project(root, base)
        # the flags as the CLI's `plan` passes them with these options (compile.plan)
        flags = {
            "fmt": "text",
            "allow_breaking": False,
            "color": [color(sys.stdout), color(sys.stderr)],
            "select": None,
            "exclude": None,
        }
        head = fingerprint(environment, project_hash, inputs.hashes, inputs.profile_hashes)
        hit = plan_memo.get(root, plan_memo.key_of(head, environment, root, git.commit, **flags))
    except Exception:  # whatever it is, the CLI meets it again and reports it as it always did
        return None
    finally:
        if git is not None:
            git.close()
    if hit is None:
        return None
    sys.stdout.write(hit["stdout"])
    sys.stderr.write(hit["stderr"])
    from modelplane.exitcodes import plan_code  # the CLI's mapping (cli.exit.plan_exit), not a copy of it

    return plan_code(hit["code"], detailed)


def main() -> None:
    from modelplane import pydantic_plugins

    pydantic_plugins.disable()  # as cli.exit.run_main does
    options = _options(sys.argv[1:])
    if options is None:
        from modelplane.cli import main as cli_main

        cli_main()
        return
    code = memo_answer(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # as the CLI ends a compile command: no interpreter teardown
    # the command itself, as typer's `plan` runs it, without typer (its import and option coercion)
    from modelplane.cli.exit import run_main
    from modelplane.cli.plan_command import run_plan

    base, env, detailed = options
    run_main(lambda: run_plan(env=env, base=base, detailed_exitcode=detailed))
