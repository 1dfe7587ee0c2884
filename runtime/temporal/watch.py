"""Following an apply from a client: its progress, and telling a lost server, a missing worker and a workflow
closed from outside (terminated, timed out) apart, each with what to do.

``ApplyHandle`` (``client.py``) offers these as methods; the CLI follows an apply through them and never talks
to Temporal itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from modelplane.errors import ModelplaneError, NoWorker, ServerLost

if TYPE_CHECKING:
    from modelplane.runtime.settings import Settings
    from modelplane.runtime.state.ports import HistoryEntry
    from modelplane.runtime.temporal.messages import Progress

WORKER_WAIT_S = 5.0
"""How long an apply's workflow task may wait unstarted before no worker is said to poll its task queue (a live
worker starts one within milliseconds)."""


async def query_progress(h: Any) -> Progress:
    """The progress of ``h`` (a ``client.ApplyHandle``: typed ``Any``, as that module imports this one); ``ServerLost``
    (or ``NoWorker``) says what went wrong and how to re-attach."""
    from temporalio.service import RPCError, RPCStatusCode

    s, ep = h.settings, h.endpoint
    try:
        progress: Progress = await h.progress()
        return progress
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
        pass  # whoever follows the apply still says what happened; the row stays as it was


async def waits_for_a_worker(handle: Any) -> bool:
    """Whether the workflow's pending task has waited over ``WORKER_WAIT_S`` without a worker starting it."""
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


async def close_ended(client: Any, s: Settings, rows: list[HistoryEntry]) -> bool:
    """Record the ending of "running" applies whose workflow was closed on the server (terminated, timed out):
    the workflow never writes it itself. ``client``: a client of a server already running (none is started)."""
    changed = False
    for row in rows:
        if row.outcome != "running" or not row.workflow_id:
            continue
        ended = await ended_unfinished(client.get_workflow_handle(row.workflow_id))
        if ended is not None:
            record_ended(s, row.apply_id, ended)
            changed = True
    return changed
