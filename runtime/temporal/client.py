"""Reaching Temporal for a project: the client, and the background worker of the embedded server.

With ``temporal.address: embedded`` (the default) the server and a worker are
started on demand, both detached, so ``apply`` can be interrupted (Ctrl-C, a
crash) while the rollout goes on; ``apply`` or ``status`` re-attach. Any other
address is a real cluster, where ``modelplane worker`` runs the workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.compiler.source.files import read_named_file
from modelplane.errors import ModelplaneError
from modelplane.files import file_lock
from modelplane.runtime.procs import Identity, is_ours, pid_alive, spawn_detached, terminate
from modelplane.runtime.settings import Settings
from modelplane.runtime.temporal.messages import ApplyOutcome, Progress
from modelplane.runtime.temporal.server import ensure_server, running_server, state_dir

WORKER_START_TIMEOUT_S = 60.0
"""How long a background worker may take to come up before ``ensure_worker`` gives up naming its log."""


@dataclass(frozen=True)
class Endpoint:
    address: str
    namespace: str
    ui_url: str | None


def temporal_endpoint(s: Settings, start: bool = True) -> Endpoint:
    if not s.embedded:
        return Endpoint(s.temporal.address, s.temporal.namespace, None)
    info = (
        ensure_server(s.root, s.temporal.namespace, s.temporal.ui, s.environment) if start else running_server(s.root)
    )
    if info is None:
        raise ModelplaneError(
            "the embedded Temporal server is not running, so there is no apply to talk to",
            hint="`modelplane apply` starts it",
        )
    return Endpoint(info.address, s.temporal.namespace, info.ui_url)


async def connect(s: Settings, start: bool = True) -> tuple[object, Endpoint]:
    """A Temporal client (typed ``object`` so importing this module stays cheap) and where it points."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.service import TLSConfig

    from modelplane.runtime.temporal import core_logs

    core_logs.route(state_dir(s.root) / "logs" / "temporal-core.log")  # a no-op in a worker: it routed first
    ep = temporal_endpoint(s, start)
    api_key = temporal_api_key(s)
    tls: TLSConfig | bool = bool(api_key)  # an API key only ever travels over TLS (Temporal Cloud requires it)
    if s.temporal.tls:
        tls = TLSConfig(
            client_cert=_read(s.root, s.temporal.tls_cert),
            client_private_key=_read(s.root, s.temporal.tls_key),
        )
    deadline = time.monotonic() + 15
    while True:
        try:
            client = await Client.connect(
                ep.address, namespace=ep.namespace, data_converter=pydantic_data_converter, tls=tls, api_key=api_key
            )
            return client, ep
        except RuntimeError as exc:
            if time.monotonic() > deadline:
                raise ModelplaneError(
                    f"cannot reach Temporal at {ep.address} (namespace {ep.namespace}): {exc}",
                    hint="check temporal.address in modelplane.yaml"
                    if not s.embedded
                    else f"see {state_dir(s.root) / 'logs' / 'temporal.log'}",
                ) from None
            await asyncio.sleep(0.2)


def temporal_api_key(s: Settings) -> str | None:
    """The API key for the Temporal service: ``MODELPLANE_TEMPORAL_API_KEY``, or the file ``temporal.api_key_file``."""
    key = os.environ.get("MODELPLANE_TEMPORAL_API_KEY")
    if key:
        return key.strip()
    data = _read(s.root, s.temporal.api_key_file, "temporal.api_key_file")
    return data.decode().strip() if data else None


def _read(root: Path, path: str | None, what: str = "temporal.tls_cert/tls_key") -> bytes | None:
    if path is None:
        return None
    return read_named_file(root, path, "the file", f"{what} in modelplane.yaml", f"check {what} in modelplane.yaml")


def worker_info(root: Path) -> dict[str, object] | None:
    try:
        info = json.loads((state_dir(root) / "worker.json").read_text())
        return info if isinstance(info, dict) else None
    except (OSError, ValueError):
        return None


def _worker_proc(info: dict[str, object]) -> Identity:
    cmdline = info.get("cmdline")
    return Identity(int(str(info["pid"])), str(info.get("started") or ""), cmdline if isinstance(cmdline, list) else [])


def _worker_running(info: dict[str, object]) -> bool:
    proc = _worker_proc(info)
    # a record from before start times were recorded: the old check (its command line names modelplane)
    return is_ours(proc) if proc.started else pid_alive(proc.pid, "modelplane")


def worker_alive(root: Path, address: str) -> bool:
    info = worker_info(root)
    return bool(info and info.get("address") == address and _worker_running(info))


def idle_stop_seconds(s: Settings) -> float:
    """How long the embedded worker and server wait with no apply running before they stop:
    ``temporal.idle_stop`` in modelplane.yaml, or ``MODELPLANE_WORKER_IDLE_EXIT`` (seconds), which wins."""
    from modelplane.specs.common import duration_seconds

    override = os.environ.get("MODELPLANE_WORKER_IDLE_EXIT")
    return float(override) if override else duration_seconds(s.temporal.idle_stop)


def ensure_worker(s: Settings, ep: Endpoint) -> int:
    """The project's background worker (embedded mode), started if it is not running; returns its pid."""
    sd = state_dir(s.root)
    with file_lock(sd / "worker.lock"):
        info = worker_info(s.root)
        if info and worker_alive(s.root, ep.address):
            return int(str(info["pid"]))
        cmd = [sys.executable, "-m", "modelplane", "worker", "-C", str(s.root), "--env", s.environment]
        cmd += ["--idle-exit", str(idle_stop_seconds(s))]
        # the worker resolves `${secret.NAME}` from MODELPLANE_SECRET_* for what it starts: it alone keeps them
        proc = spawn_detached(cmd, sd / "logs" / "worker.log", s.root, env=dict(os.environ))
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while True:
            info = worker_info(s.root)
            if info and info.get("pid") == proc.pid:
                return proc.pid
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise ModelplaneError(
                    f"the background worker did not start (exit {proc.poll()})",
                    hint=f"see {sd / 'logs' / 'worker.log'}",
                )
            time.sleep(0.05)


def stop_worker(root: Path) -> bool:
    info = worker_info(root)
    if not info or not _worker_running(info):
        return False
    return terminate(_worker_proc(info), grace=10.0, what="the background worker")


async def client_for(s: Settings, start: bool = True, with_worker: bool = True) -> tuple[Any, Endpoint]:
    """A client for the environment's Temporal; in embedded mode its server (``start``) and worker started."""
    client, ep = await connect(s, start=start)
    if with_worker and s.embedded:
        await asyncio.to_thread(ensure_worker, s, ep)
    return client, ep


async def existing_client(s: Settings, with_worker: bool = True) -> tuple[Any, Endpoint] | None:
    """A client, or None where no embedded server runs (then no apply can be running either)."""
    if s.embedded and running_server(s.root) is None and not unfinished(s):
        return None
    return await client_for(s, start=True, with_worker=with_worker)


def unfinished(s: Settings) -> bool:
    """Did an apply start here and never finish (the server went down with it)? Then it must resume."""
    from modelplane.runtime.state import existing_store

    store = existing_store(s.root, s.state)
    if store is None:
        return False
    last = store.history(s.environment, limit=1)
    return bool(last) and last[0].outcome == "running"


@dataclass(frozen=True)
class ApplyHandle:
    """An apply's workflow on the server: what ``Workspace.apply`` returns and ``status`` follows."""

    workflow: Any
    """temporalio's ``WorkflowHandle`` of ``apply/<project>/<env>`` (typed ``Any``: importing stays cheap)."""
    endpoint: Endpoint
    settings: Settings
    plan_id: str
    apply_id: str | None = None
    """None when re-attached (the running apply's progress says it)."""
    reattached: bool = False

    @property
    def ui_link(self) -> str | None:
        """The apply in the Temporal Web UI, where the server has one."""
        if self.endpoint.ui_url is None:
            return None
        from urllib.parse import quote

        wid = quote(self.settings.workflow_id, safe="")
        return f"{self.endpoint.ui_url}/namespaces/{self.endpoint.namespace}/workflows/{wid}"

    async def progress(self) -> Progress:
        """The apply's progress now (``RPCError`` where the server or a worker does not answer)."""
        from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow  # the workflow's module, when asked

        result: Progress = await self.workflow.query(ApplyPlanWorkflow.progress)
        return result

    async def result(self) -> ApplyOutcome:
        """Wait for the apply to end; its outcome."""
        outcome: ApplyOutcome = await self.workflow.result()
        return outcome

    async def watch(self) -> Progress:
        """The apply's progress, for whoever follows it: ``modelplane.errors.ServerLost`` where the server is
        gone, ``NoWorker`` where no worker polls its task queue (each says what to do)."""
        from modelplane.runtime.temporal.watch import query_progress

        return await query_progress(self)

    async def ended_unfinished(self) -> str | None:
        """How the workflow closed without its own ending (``terminated``, ``timed out``), or None while it runs."""
        from modelplane.runtime.temporal.watch import ended_unfinished

        return await ended_unfinished(self.workflow)

    def record_ended(self, apply_id: str, ended: str) -> None:
        """Write that ending into the apply's history row (the workflow never does)."""
        from modelplane.runtime.temporal.watch import record_ended

        record_ended(self.settings, apply_id, ended)
