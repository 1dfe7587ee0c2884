"""``modelplane stack``: preview what a stack's Pulumi program creates, offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import guard
from modelplane.cli.formats import Format
from modelplane.cli.options import EnvOpt, FormatOpt, ProjectOpt
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
    fmt: FormatOpt = Format.text,
) -> None:
    """Every resource the stack's Pulumi program would create, offline (no Pulumi CLI, no cloud)."""
    from modelplane.cli.views.stack import preview_view
    from modelplane.workspace import Workspace

    ws = workspace(project, env)
    shown = guard(lambda: ws.stack_preview(stack), fmt)
    preview_view(shown, ws.settings.environment, fmt).write()
    if render is not None:
        written = Workspace.write_stack_objects(shown, render)
        print(f"wrote {len(written)} Kubernetes objects to {render}", file=sys.stderr)
