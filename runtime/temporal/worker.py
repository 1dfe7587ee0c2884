"""The Temporal worker: runs the apply workflows and their activities.

``modelplane worker`` runs it in the foreground as a service (against any
cluster, from any directory: an apply carries everything it needs, so the
worker needs only connection settings); in embedded mode ``apply`` starts it in
the background, where it exits after a while with no apply running. It records
itself in ``.modelplane/worker.json`` once it is polling, which is how ``apply``
knows it is ready.

Workflows are pinned with Temporal's Worker Versioning: each worker is a
version (build id) of the deployment ``modelplane-<task queue>`` and makes
itself the current one when it starts, so new applies run on the newest code
while an apply in flight finishes on the code that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from modelplane import __version__
from modelplane.files import atomic_write
from modelplane.runtime.procs import stamp
from modelplane.runtime.settings import Settings, open_store, worker_settings
from modelplane.runtime.state import Store
from modelplane.runtime.temporal import core_logs
from modelplane.runtime.temporal.client import connect
from modelplane.runtime.temporal.server import state_dir, stop_server

STICKY_TIMEOUT = timedelta(seconds=1)
"""How long a workflow task waits on a dead worker's sticky queue before any worker takes it.

The SDK default (10 s) is most of the time a crashed apply takes to resume.
"""
GRACEFUL_SHUTDOWN = timedelta(seconds=30)
"""On SIGTERM the worker stops polling and gives running activities this long to finish (each is
idempotent, so one cut short runs again on the next worker)."""
PASSTHROUGH = ("modelplane", "pydantic", "pydantic_core", "annotated_types", "typing_extensions")


def build_id() -> str:
    """This worker's version: ``MODELPLANE_BUILD_ID``, or the release and a hash of the code it runs
    (the same on every machine that installed the same code, so their workers are one version)."""
    given = os.environ.get("MODELPLANE_BUILD_ID")
    if given:
        return given
    here = Path(__file__).resolve().parent.parent  # modelplane's package root: runtime, compiler, specs...
    h = hashlib.blake2b(digest_size=6)
    for sub in ("runtime", "compiler", "specs", "stacks"):
        for f in sorted((here / sub).rglob("*.py")):
            h.update(f.relative_to(here).as_posix().encode() + b"\0" + f.read_bytes())
    return f"{__version__}-{h.hexdigest()}"


def deployment_name(s: Settings) -> str:
    return f"modelplane-{s.temporal.task_queue}"


def build_worker(
    client: Any, s: Settings, stores: dict[str, Store] | None = None, versioned: bool = False, **kwargs: Any
) -> Any:
    """The worker; ``versioned``: a version of the task queue's deployment (``build_id``), its workflows pinned."""
    from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
    from temporalio.worker import Worker, WorkerDeploymentConfig
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from modelplane.runtime.temporal.activities import Activities
    from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow, EndpointRolloutWorkflow

    opened: dict[str, Store] = stores if stores is not None else {}

    def store(env: str) -> Store:
        if env not in opened:
            opened[env] = open_store(s.root, worker_settings(s.root, env).state)
        return opened[env]

    if versioned:
        kwargs["deployment_config"] = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment_name=deployment_name(s), build_id=build_id()),
            use_worker_versioning=True,
            # an apply (and each rollout) finishes on the code that started it
            default_versioning_behavior=VersioningBehavior.PINNED,
        )
    return Worker(
        client,
        task_queue=s.temporal.task_queue,
        workflows=[ApplyPlanWorkflow, EndpointRolloutWorkflow],
        activities=Activities(s.root, store).all(),
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
        **kwargs,
    )


async def make_current(client: Any, s: Settings, build: str) -> None:
    """Route new applies to this build: it becomes its deployment's current version."""
    from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
    from temporalio.service import RPCError

    deadline = time.monotonic() + 30
    while True:  # the server learns of a version from its first poll: retry until it has
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=s.temporal.namespace,
                    deployment_name=deployment_name(s),
                    build_id=build,
                    identity=f"modelplane worker {os.getpid()}",
                )
            )
            return
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


class Log:
    """The worker's own lines: plain text, or one JSON object per line (``--log-format json``) for a log pipeline."""

    def __init__(self, fmt: str) -> None:
        self.json = fmt == "json"

    def __call__(self, message: str, **fields: Any) -> None:
        if self.json:
            line = json.dumps({"ts": time.time(), "level": "info", "msg": message, **fields}, default=str)
        else:
            line = message
        print(line, flush=True)


async def _health(port: int, state: dict[str, Any], local: bool) -> Any:
    """``GET /healthz``: 200 with what the worker serves while it polls, 503 once it shuts down."""
    from aiohttp import web

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(state, status=200 if state["status"] == "polling" else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1" if state.get("local") else "0.0.0.0", port).start()
    return runner


async def serve(
    root: Path,
    env: str | None,
    idle_exit: float | None = None,
    *,
    health_port: int | None = None,
    log_format: str = "text",
) -> None:
    """Run a worker until SIGINT/SIGTERM (then shut down gracefully), or until no apply has run for ``idle_exit`` s."""
    log = Log(log_format)
    if log.json:
        import logging

        class _Json(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                return json.dumps(
                    {
                        "ts": record.created,
                        "level": record.levelname.lower(),
                        "msg": record.getMessage(),
                        "logger": record.name,
                    }
                )

        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(_Json())
        logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    s = worker_settings(root, env)  # a project file's, or (a worker service) the environment's alone
    core_logs.route(None)  # Temporal core's WARN lines in this worker's log, formatted as its own lines
    client, ep = await connect(s)
    build = build_id()
    worker = build_worker(client, s, versioned=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    health: dict[str, Any] = {
        "status": "starting",
        "address": ep.address,
        "namespace": s.temporal.namespace,
        "task_queue": s.temporal.task_queue,
        "deployment": deployment_name(s),
        "build_id": build,
        "pid": os.getpid(),
    }
    health_runner = await _health(health_port, health, s.embedded) if health_port is not None else None
    try:
        async with worker:
            await make_current(client, s, build)
            health["status"] = "polling"
            me = stamp(os.getpid())  # checked before `down` or `server --stop` signal this pid
            info = {"pid": me.pid, "started": me.started, "cmdline": me.cmdline}
            info |= {"address": ep.address, "task_queue": s.temporal.task_queue, "build_id": build}
            atomic_write(state_dir(root) / "worker.json", json.dumps(info).encode())
            log(
                f"modelplane worker {os.getpid()} polling {s.temporal.task_queue} at {ep.address} (build {build})",
                event="polling",
                task_queue=s.temporal.task_queue,
                address=ep.address,
                build_id=build,
            )
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
                    log(f"no apply running for {idle_exit:.0f} s: exiting", event="idle-exit")
                    if s.embedded and not (await client.count_workflows('ExecutionStatus="Running"')).count:  # type: ignore[attr-defined]
                        # nothing else runs on the embedded server either: it stops too; the next
                        # command that needs it starts it again (its database keeps every history)
                        stopped = stop_server(root)
                        if stopped is not None:
                            log(f"stopped the embedded Temporal server (pid {stopped.pid})", event="server-stopped")
                    break
            health["status"] = "stopping"
            log("shutting down: no new work; running activities get up to 30 s", event="stopping")
    finally:
        if health_runner is not None:
            await health_runner.cleanup()
