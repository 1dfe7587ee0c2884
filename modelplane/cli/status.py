"""Commands that read an environment: status (re-attaching to a running apply), history and show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelplane.cli.exit import guard
from modelplane.cli.follow import FINAL, exit_code, follow_apply, make_console, run_async
from modelplane.cli.formats import Format
from modelplane.cli.options import EnvOpt, FormatOpt, ProjectOpt
from modelplane.cli.project import workspace

if TYPE_CHECKING:
    from modelplane.workspace import Workspace


def status(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow a running apply until it ends.")] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """The running apply (re-attaching to it; says so where it is paused), or the applied state: serial, pending
    actions, outputs, last apply, local endpoints."""
    ws = workspace(project, env)
    raise typer.Exit(run_async(_status(ws, watch, fmt), fmt))


async def _status(ws: Workspace, watch: bool, fmt: Format) -> int:
    from modelplane.cli.views import status as view

    s = ws.settings
    found = await ws.running()
    if found is not None:
        running, handle = found
        if fmt == Format.json:  # a snapshot: JSON never follows
            print(view.running_json(running, await handle.watch()))
            return 0
        make_console().print(view.running_header(running, s.project.name, s.environment))
        state = await follow_apply(handle, follow=watch)
        return exit_code(state) if state in FINAL else 0
    summary = guard(ws.state_summary, fmt)
    if fmt == Format.json:
        print(view.state_json(summary))
        return 0
    console = make_console()
    for line, style in view.state_lines(summary, s.project.name):
        console.print(line, style=style)
    for line in view.local_endpoint_lines(await ws.local_endpoints()):
        console.print(line)
    return 0


def history(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    fmt: FormatOpt = Format.text,
) -> None:
    """Past applies of an environment: when, which apply and plan, outcome, who."""
    from modelplane.cli.views.history import history_view

    ws = workspace(project, env)
    rows = guard(lambda: ws.history(limit), fmt)
    s = ws.settings
    if any(r.outcome == "running" for r in rows) and ws.close_ended_applies(rows):
        rows = guard(lambda: ws.history(limit), fmt)  # rows of applies terminated on the server now say so
    history_view(rows, f"{s.project.name}/{s.environment}", fmt).write()


def show(
    node: Annotated[str, typer.Argument(help="The node, as kind/name (e.g. model/tiny-chat) or a unique name.")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """A node's history in an environment: versions applied (apply, plan, who, when), runs, a model's
    artifacts and the runs that produced them, an evaluation's metrics, an endpoint's rollouts and weights."""
    from modelplane.cli.views.show import show_view

    ws = workspace(project, env)
    h = guard(lambda: ws.node_history(node), fmt)
    show_view(h, fmt).write()
