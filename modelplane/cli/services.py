"""Long-running processes: a worker, and the embedded Temporal server in the foreground."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.follow import run_async
from modelplane.cli.options import EnvOpt, ProjectOpt
from modelplane.cli.project import project_root
from modelplane.errors import ModelplaneError


def worker(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    idle_exit: Annotated[
        float | None, typer.Option("--idle-exit", help="Exit after this many seconds with no apply running.")
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option("--health-port", help="Serve GET /healthz on this port (200 while polling, 503 when stopping)."),
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text, or json: one JSON object per line.")] = "text",
) -> None:
    """Run a worker: in the foreground as a service for a team's Temporal (any directory with connection
    settings will do: an apply carries what it needs), or for the embedded server. SIGTERM stops it gracefully."""
    from modelplane.workspace import Workspace

    if log_format not in ("text", "json"):
        fail(ModelplaneError(f"unknown --log-format `{log_format}`", hint="use text or json"))
    ws = Workspace(worker_root(project), env)  # its settings are read by the worker (or say what is missing)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(ws.serve_worker(idle_exit, health_port=health_port, log_format=log_format))


def worker_root(project: Path | None) -> Path:
    """The project's root; for a worker service configured by its environment alone (``MODELPLANE_TEMPORAL_
    ADDRESS`` set, no modelplane.yaml here or above), the current directory: it keeps ``.modelplane/`` there."""
    from modelplane.workspace import Workspace

    if project is None and not Workspace.has_project_above(Path.cwd()):
        return Path.cwd().resolve()  # without MODELPLANE_TEMPORAL_ADDRESS, worker_settings says what is missing
    return project_root(project)


def server(
    project: ProjectOpt = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the embedded server (and its worker).")] = False,
) -> None:
    """Run the embedded Temporal server in the foreground, with its Web UI."""
    from modelplane.workspace import Workspace

    ws = Workspace(project_root(project))
    if stop:
        stopped = ws.stop_server()
        print("stopped the embedded Temporal server" if stopped else "the embedded Temporal server was not running")
        return
    running = ws.server_running()
    if running is not None:
        print(f"the embedded Temporal server already runs (pid {running.pid}) at {running.address}")
        if running.ui_url:
            print(f"Web UI: {running.ui_url}")
        print("stop it with: modelplane server --stop")
        return
    s = guard(lambda: ws.settings)
    proc, fg = guard(ws.start_server_foreground)
    ui = f"Web UI ({s.temporal.ui}) at {fg.ui_url}" if fg.ui_url else "no Web UI (temporal.ui: off)"
    print(f"Temporal at {fg.address}, {ui}; Ctrl-C stops it", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
