"""``modelplane state``: export, import, migrate to PostgreSQL, clear a stuck lock.

Every message names stores by ``describe()``: a path, or a URL with any password masked.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.options import EnvOpt, ProjectOpt
from modelplane.cli.project import workspace
from modelplane.cli.views.words import plural
from modelplane.errors import ModelplaneError

state_app = typer.Typer(
    help="The state store: export, import, migrate SQLite to PostgreSQL, clear a stuck lock.", no_args_is_help=True
)


def _can_prompt() -> bool:
    return sys.stdin.isatty()


@state_app.command("export")
def export_(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Everything the store holds, as a versioned JSON document (deterministic: same state, same bytes)."""
    ws = workspace(project, env)
    store = guard(ws.existing_store)
    text = guard(ws.export_state)
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, output)
    print(f"exported {store.describe()} to {output}", file=sys.stderr)


@state_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A document written by `modelplane state export` (`-` for stdin).")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a store that is not empty.")] = False,
) -> None:
    """Load an export into the environment's store, which must be empty unless --force."""
    ws = workspace(project, env)
    source = "<stdin>" if str(file) == "-" else str(file)
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
    except OSError as exc:
        fail(ModelplaneError(f"cannot read {file}: {exc.strerror}", hint="pass the path of an export"))
    n, into = guard(lambda: ws.import_state(text, source, force))
    print(f"imported {plural(n, 'row')} from {source} into {into}")


@state_app.command()
def migrate(
    to: Annotated[str, typer.Option("--to", help="PostgreSQL URL (postgresql://user@host:5432/db).")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Copy even while an apply runs, or over a different state.")
    ] = False,
) -> None:
    """Copy the SQLite state into PostgreSQL, then check both export the same; running it twice is safe."""
    ws = workspace(project, env)
    path = ws.sqlite_state_path()
    done = guard(lambda: ws.migrate_state(to, force))
    result, shown, described = done.migrated, done.shown, done.described
    if result.copied:
        print(f"copied {plural(result.rows, 'row')} from {path} to {shown}; both export the same document")
    else:
        print(f"{shown} already holds the state of {path} ({plural(result.rows, 'row')}): nothing to do")
    print(
        f"use it with `state: {{backend: postgres, url: {described}}}` in modelplane.yaml or "
        f"MODELPLANE_STATE_URL; {path} is left as it was"
    )


@state_app.command()
def unlock(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Required: clearing a live apply's lock is unsafe.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why, kept in the audit entry.")] = "",
) -> None:
    """Clear an environment's lock row (left by a crashed apply); recorded in the audit trail."""
    ws = workspace(project, env)
    s = ws.settings
    if not force:
        fail(
            ModelplaneError(
                f"`state unlock` clears the lock on {s.environment} whoever holds it; if that apply still runs, "
                "two applies would then write the same state",
                hint=f"stop a running apply with `modelplane abort --env {s.environment}`; if it is truly gone, "
                f"run `modelplane state unlock --env {s.environment} --force`",
            )
        )
    store = guard(ws.store)
    held = guard(lambda: store.lock_holder(s.environment))
    if held is None:
        print(f"no lock is held on {s.project.name}/{s.environment} in {store.describe()}: nothing to clear")
        return
    since = datetime.fromtimestamp(held.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(
        f"the lock on {s.environment} is held by apply {held.apply_id} ({held.holder} on {held.location}, since {since})"
    )
    if not yes:
        if not _can_prompt():
            fail(ModelplaneError("no terminal to confirm the unlock on", hint="pass --yes to confirm"))
        answer = typer.prompt(f"type the environment name ({s.environment}) to clear it")
        if answer.strip() != s.environment:
            print("not confirmed: the lock is left as it was", file=sys.stderr)
            raise typer.Exit(1)
    me = ws.requested_by()
    cleared = guard(lambda: store.force_unlock(s.environment, me, reason))
    what = f"apply {cleared.apply_id}'s lock" if cleared else "the lock (already gone)"
    print(f"cleared {what} on {s.environment}; recorded in the audit trail as {me}")
