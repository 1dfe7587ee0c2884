"""The Temporal worker: runs the apply workflows and their activities for one project.

``modelplane worker`` runs it in the foreground (against any cluster); in
embedded mode ``apply`` starts it in the background, where it exits after a
while with no apply running. It records itself in ``.modelplane/worker.json``
once it is polling, which is how ``apply`` knows it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

from modelplane.compiler.sources import atomic_write
from modelplane.runtime.connection import Settings, connect, open_store, settings_for
from modelplane.runtime.procs import stamp
from modelplane.runtime.server import state_dir, stop_server
from modelplane.runtime.state_backend import Store

STICKY_TIMEOUT = timedelta(seconds=1)
"""How long a workflow task waits on a dead worker's sticky queue before any worker takes it.

The SDK default (10 s) is most of the time a crashed apply takes to resume.
"""
PASSTHROUGH = ("modelplane", "pydantic", "pydantic_core", "annotated_types", "typing_extensions")


def build_worker(client: Any, s: Settings, stores: dict[str, Store] | None = None, **kwargs: Any) -> Any:
    from modelplane.runtime.activities import Activities
    from modelplane.runtime.workflows import ApplyPlanWorkflow, EndpointRolloutWorkflow
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    opened: dict[str, Store] = stores if stores is not None else {}

    def store(env: str) -> Store:
        if env not in opened:
            opened[env] = open_store(s.root, settings_for(s.root, env).state)
        return opened[env]

    return Worker(
        client,
        task_queue=s.temporal.task_queue,
        workflows=[ApplyPlanWorkflow, EndpointRolloutWorkflow],
        activities=Activities(s.root, store).all(),
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
        **kwargs,
    )


async def serve(root: Path, env: str | None, idle_exit: float | None = None) -> None:
    """Run a worker until SIGINT/SIGTERM, or until no apply has run for ``idle_exit`` seconds."""
    s = settings_for(root, env)
    client, ep = await connect(s)
    worker = build_worker(client, s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        me = stamp(os.getpid())  # checked before `down` or `server --stop` signal this pid
        info = {"pid": me.pid, "started": me.started, "cmdline": me.cmdline}
        info |= {"address": ep.address, "task_queue": s.temporal.task_queue}
        atomic_write(state_dir(root) / "worker.json", json.dumps(info).encode())
        print(f"modelplane worker {os.getpid()} polling {s.temporal.task_queue} at {ep.address}", flush=True)
        idle_since = loop.time()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)
            if idle_exit is None:
                continue
            running = await client.count_workflows(  # type: ignore[attr-defined]
                f'TaskQueue="{s.temporal.task_queue}" AND ExecutionStatus="Running"'
            )
            if running.count:
                idle_since = loop.time()
            elif loop.time() - idle_since > idle_exit:
                print(f"no apply running for {idle_exit:.0f} s: exiting", flush=True)
                if s.embedded and not (await client.count_workflows('ExecutionStatus="Running"')).count:  # type: ignore[attr-defined]
                    # nothing else runs on the embedded server either: it stops too; the next
                    # command that needs it starts it again (its database keeps every history)
                    stopped = stop_server(root)
                    if stopped is not None:
                        print(f"stopped the embedded Temporal server (pid {stopped.pid})", flush=True)
                break
