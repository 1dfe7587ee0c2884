"""``modelplane stack``: preview what a stack's Pulumi program creates, offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import guard
from modelplane.cli.options import EnvOpt, ProjectOpt
from modelplane.cli.project import workspace

stack_app = typer.Typer(help="Pulumi stacks: preview what a stack's program creates.", no_args_is_help=True)


@stack_app.command("preview")
def stack_preview(
    stack: Annotated[str, typer.Argument(help="The stack (name or stack/name).")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    render: Annotated[
        Path | None, typer.Option("--render", help="Also write the Kubernetes objects as YAML here.")
    ] = None,
) -> None:
    """Every resource the stack's Pulumi program would create, offline (no Pulumi CLI, no cloud)."""
    from modelplane.stacks.preview import write_objects

    ws = workspace(project, env)
    shown = guard(lambda: ws.stack_preview(stack))
    spec, rendered = shown.spec, shown.rendered
    where = ", ".join(x for x in (spec["provider"], spec["region"], f"namespace {rendered.namespace}") if x)
    print(f"stack/{shown.name} ({where}), env {ws.settings.environment}: {len(shown.rows)} resources")
    for r in shown.rows:
        print(f"  + {r.type}  {r.name}" + (f"\n      {r.summary}" if r.summary else ""))
    for extra in shown.missing_extras:
        print(f"note: node pools not shown: install the `{extra}` extra (pip install 'modelplane[{extra}]')")
    if render is not None:
        written = write_objects(rendered, render)
        print(f"wrote {len(written)} Kubernetes objects to {render}", file=sys.stderr)
