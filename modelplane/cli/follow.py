"""Following a running apply: its progress on a terminal or in a log, and losing the server gracefully.

Everything that talks to Temporal is the ``ApplyHandle``'s (``watch``, ``ended_unfinished``, ``record_ended``) or
the Workspace's; this module shows what they say.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import typer

from modelplane.cli.exit import QUICK_EXIT, fail
from modelplane.cli.formats import Format
from modelplane.cli.views.console import make_console
from modelplane.errors import ModelplaneError, ServerLost

if TYPE_CHECKING:
    from modelplane.runtime.temporal.client import ApplyHandle
    from modelplane.runtime.temporal.messages import Progress
    from modelplane.workspace import Workspace

__all__ = ["FINAL", "exit_code", "follow_apply", "make_console", "run_async", "signal_apply"]

POLL_S = 0.25


FINAL = ("succeeded", "failed", "aborted")


def run_async(coro: Any, fmt: Format = Format.text) -> Any:
    import asyncio

    # the process ends without tearing the interpreter down: Temporal's client leaves native threads that
    # can abort a short-lived process at finalization (temporalio/sdk-python#300); output is flushed first
    QUICK_EXIT.append(True)
    try:
        return asyncio.run(coro)
    except ModelplaneError as exc:
        fail(exc, fmt)
    except ServerLost as exc:  # one line, no traceback: what happened and the command that re-attaches
        print(str(exc), file=sys.stderr)
        raise typer.Exit(1) from None


async def follow_apply(h: ApplyHandle, follow: bool = True) -> str:
    """Show progress until the apply ends (``follow``) or once; returns its state."""
    import asyncio

    from rich.live import Live

    from modelplane.cli.gates import GateNotices
    from modelplane.cli.views.progress import LineLog, table
    from modelplane.errors import NoWorker

    console = make_console()
    s, link = h.settings, h.ui_link
    if link:
        console.print(f"Temporal UI: {link}", style="dim")
    live = console.is_terminal
    log = LineLog(console)
    view = Live(console=console, refresh_per_second=8, transient=False) if live else None
    p: Progress | None = None
    gates = GateNotices(console, s)  # what a gate waits for and the command that continues, once each
    try:
        if view is not None:
            view.start()
        waiting = False
        while True:
            try:
                p = await h.watch()
            except NoWorker as exc:
                if not follow:
                    raise ServerLost(str(exc)) from None
                if not waiting:  # said once; the apply is safe on the server and goes on with the next worker
                    console.print(str(exc), style="yellow")
                    waiting = True
                await asyncio.sleep(POLL_S)
                continue
            waiting = False
            view.update(table(p, datetime.now(UTC))) if view is not None else log.update(p)
            gates.update(p)
            if p.state in FINAL or not follow:
                break
            ended = await h.ended_unfinished()
            if ended is not None:  # a query replays a closed workflow as it last was: "running", forever
                h.record_ended(p.apply_id, ended)
                if view is not None:
                    view.stop()
                    view = None
                console.print(
                    f"apply {p.apply_id} ended on the server without finishing: {ended}; what it did not finish "
                    f"is pending in the state: `modelplane plan --env {s.environment}` shows it, "
                    f"`modelplane apply --env {s.environment}` does it",
                    style="red",
                )
                return "failed"
            await asyncio.sleep(POLL_S)
    finally:
        if view is not None:
            view.stop()
    assert p is not None
    print_summary(console, p)
    return p.state


def print_summary(console: Any, p: Progress) -> None:
    """How the apply ended; or, shown once while it goes on, why it waits (paused, at a manual gate)."""
    import json

    from modelplane.cli.views.progress import headline
    from modelplane.cli.views.status import paused_lines

    if p.state not in FINAL:
        for line in paused_lines(p):
            console.print(line, style="magenta")
        return
    style = {"succeeded": "green", "failed": "red", "aborted": "yellow"}.get(p.state, "")
    console.print(headline(p), style=style)
    if p.preflight:
        console.print("✗ preflight: nothing was run; missing on the worker:", style="red")
        for problem in p.preflight:
            console.print(f"  - {problem.what}", style="red")
            console.print(f"    hint: {problem.hint}")
    for aid in p.order:
        r = p.actions[aid]
        if r.state == "failed":
            console.print(f"  ✗ {aid}: {r.error}", style="red")
            if r.output.get("hint"):
                console.print(f"    hint: {r.output['hint']}")
            if r.output.get("metrics"):
                console.print(f"    metrics: {json.dumps(r.output['metrics'])}")


def exit_code(state: str) -> int:
    return 0 if state == "succeeded" else 1


def signal_apply(ws: Workspace, name: Literal["pause", "resume", "abort"], reason: str = "") -> None:
    """Send the environment's running apply ``pause``, ``resume`` or ``abort``."""
    run_async(ws.signal(name, reason))
