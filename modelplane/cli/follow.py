"""Talking to a running apply: the Temporal client, following its progress, and losing the server gracefully."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from modelplane.cli.exit import QUICK_EXIT, fail
from modelplane.cli.options import color
from modelplane.errors import ModelplaneError

if TYPE_CHECKING:
    from modelplane.runtime.settings import Settings
    from modelplane.runtime.temporal.client import ApplyHandle
    from modelplane.runtime.temporal.messages import Progress

POLL_S = 0.25


FINAL = ("succeeded", "failed", "aborted")


def run_async(coro: Any) -> Any:
    import asyncio

    # the process ends without tearing the interpreter down: Temporal's client leaves native threads that
    # can abort a short-lived process at finalization (temporalio/sdk-python#300); output is flushed first
    QUICK_EXIT.append(True)
    try:
        return asyncio.run(coro)
    except ModelplaneError as exc:
        fail(exc)
    except ServerLost as exc:  # one line, no traceback: what happened and the command that re-attaches
        print(str(exc), file=sys.stderr)
        raise typer.Exit(1) from None


def make_console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = color(stream)
    # off a terminal (CI logs, pipes) lines are not wrapped at 80 columns
    return Console(file=stream, force_terminal=tty, no_color=not tty, highlight=False, width=None if tty else 200)


async def follow_apply(h: ApplyHandle, follow: bool = True) -> str:
    """Show progress until the apply ends; returns its final state."""
    import asyncio

    from rich.live import Live

    from modelplane.cli.gates import GateNotices
    from modelplane.cli.views.progress import LineLog, table

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
                p = await query_progress(h)
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
            ended = await ended_unfinished(h.workflow)
            if ended is not None:  # a query replays a closed workflow as it last was: "running", forever
                record_ended(s, p.apply_id, ended)
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
    if p.state in FINAL:
        print_summary(console, p)
    return p.state


def record_ended(s: Settings, apply_id: str, ended: str) -> None:
    """The history row of an apply whose workflow was closed from outside (terminated, timed out) says so:
    the workflow never writes its own ending, and `history` would show it running forever."""
    from modelplane.runtime.settings import open_store

    try:
        store = open_store(s.root, s.state)
        if any(e.apply_id == apply_id and e.outcome == "running" for e in store.history(s.environment, limit=50)):
            # its write-ahead intents stay pending: the next plan repairs what the terminated apply left
            store.history_end(apply_id, ended, {"ended": f"the workflow was {ended} on the server"}, keep_intents=True)
    except (ModelplaneError, OSError):
        pass  # the message below still says what happened; the row stays as it was


async def ended_unfinished(handle: Any) -> str | None:
    """How the apply's workflow closed without its own ending (terminated, timed out...), or None if it runs."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    try:
        desc = await handle.describe()
    except RPCError:
        return None  # the next query says what is wrong with the server
    if desc.status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        return None  # completed: the query's next answer is its final state
    name: str = desc.status.name
    return name.lower().replace("_", " ")


class ServerLost(Exception):
    """The Temporal server stopped answering while a command followed an apply."""


class NoWorker(ServerLost):
    """The server answers, but no worker polls the apply's task queue (the apply waits for one)."""


async def query_progress(h: ApplyHandle) -> Progress:
    """The apply's progress; losing the server ends the command with one line saying how to re-attach."""
    from temporalio.service import RPCError, RPCStatusCode

    s, ep = h.settings, h.endpoint
    try:
        return await h.progress()
    except RPCError as exc:
        # the server answers; no worker polls the apply's task queue now: it says so ("no poller"), or, where a
        # worker polled it lately, the query times out while the workflow's task waits for a worker
        gone = exc.status == RPCStatusCode.UNAVAILABLE  # the server itself is away: the other message
        if "no poller" in str(exc) or (not gone and await waits_for_a_worker(h.workflow)):
            raise NoWorker(
                f"no worker polls task queue `{s.temporal.task_queue}` at {ep.address} now; the apply waits on the "
                f"server and goes on when one does (embedded mode: `modelplane apply` starts one; a team: start "
                f"`modelplane worker` on the same build)"
            ) from None
        raise ServerLost(
            f"lost the Temporal server at {ep.address} while following apply {s.workflow_id} ({exc}); the apply "
            f"is kept by the server and goes on when it is back: re-attach with "
            f"`modelplane status --env {s.environment} --watch`"
        ) from None


WORKER_WAIT_S = 5.0
"""How long an apply's workflow task may wait unstarted before no worker is said to poll its task queue (a live
worker starts one within milliseconds)."""


async def waits_for_a_worker(handle: Any) -> bool:
    """Whether the workflow's pending task has waited over ``WORKER_WAIT_S`` without a worker starting it."""
    import time

    from temporalio.api.enums.v1 import PendingWorkflowTaskState
    from temporalio.service import RPCError

    try:
        raw = (await handle.describe()).raw_description
    except RPCError:
        return False  # the server does not answer: that is the other message
    if not raw.HasField("pending_workflow_task"):
        return False
    task = raw.pending_workflow_task
    if task.state != PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED:
        return False
    since = task.original_scheduled_time if task.HasField("original_scheduled_time") else task.scheduled_time
    scheduled: float = since.ToMicroseconds() / 1e6
    return time.time() - scheduled > WORKER_WAIT_S


def print_summary(console: Any, p: Any) -> None:
    from modelplane.cli.views.progress import headline

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


async def running_handle(s: Settings) -> Any:
    """The Temporal handle of the apply running on the environment; an error where none runs."""
    from modelplane.runtime.apply import attach

    found = await attach(s)
    if found is None:
        raise ModelplaneError(
            f"no apply is running on {s.project.name}/{s.environment}",
            hint=f"`modelplane status --env {s.environment}` shows the last one",
        )
    return found[1].workflow


def signal_apply(s: Any, name: str, *args: Any) -> None:
    async def go() -> None:
        handle = await running_handle(s)
        await handle.signal(name, *args)

    run_async(go())
