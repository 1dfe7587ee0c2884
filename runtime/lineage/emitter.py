"""Sending OpenLineage events from an apply's activities: never failing it, never slowing it.

An activity hands events to ``Emitter.send``, which only puts them on a bounded queue (full: the
event is dropped with a warning). One daemon thread per transport takes them off and emits them with
openlineage-python's client, retrying with backoff; an event that still cannot be sent is dropped
with a warning in the worker's log. Building an event that fails is a warning too: lineage is a
report of the apply, never a step of it. At exit the thread gets a moment to drain.

The transport comes from the apply's ``lineage:`` settings (``specs.project.LineageSettings``) or,
without a ``transport:``, from the client's own configuration on the worker (``OPENLINEAGE_URL``,
``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml``).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from modelplane.specs.project import LineageSettings

log = logging.getLogger("modelplane.lineage")

DRAIN_AT_EXIT_S = 2.0
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0


class Client(Protocol):
    def emit(self, event: Any) -> None: ...


def client_config(settings: LineageSettings, root: Path) -> dict[str, Any] | None:
    """openlineage-python's ``config`` for the declared transport; None: the client reads its own."""
    t = settings.transport
    if t is None:
        return None
    if t.type == "http":
        transport: dict[str, Any] = {
            "type": "http",
            "url": t.url,
            "endpoint": t.endpoint,
            "timeout": t.timeout,
            # our thread retries (with a bound); the client's own retries would hold it longer
            "retry": {"total": 0},
        }
        key = os.environ.get(t.api_key_env) if t.api_key_env else None
        if key:
            transport["auth"] = {"type": "api_key", "apiKey": key}
        return {"transport": transport}
    if t.type == "file":
        path = Path(t.path or "")
        return {
            "transport": {
                "type": "file",
                "log_file_path": str(path if path.is_absolute() else root / path),
                "append": True,
            }
        }
    return {"transport": {"type": "console"}}


def make_client(settings: LineageSettings, root: Path) -> Client:
    from openlineage.client import OpenLineageClient

    return OpenLineageClient(config=client_config(settings, root))


class Emitter:
    """A bounded queue and the thread that empties it into ``client``."""

    def __init__(self, client: Client, buffer: int = 1000, retries: int = 3) -> None:
        self.client = client
        self.retries = retries
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=buffer)
        self.sent = 0
        self.dropped = 0
        self._warned_full = False
        self._thread = threading.Thread(target=self._run, name="modelplane-lineage", daemon=True)
        self._thread.start()

    def send(self, build: Callable[[], list[Any]]) -> None:
        """Queue the events ``build`` makes; whatever goes wrong is a warning, never an exception."""
        try:
            events = [e for e in build() if e is not None]
        except Exception as exc:
            log.warning("OpenLineage: could not build events (%s: %s); the apply goes on", type(exc).__name__, exc)
            return
        for event in events:
            try:
                self.queue.put_nowait(event)
            except queue.Full:
                self.dropped += 1
                if not self._warned_full:
                    self._warned_full = True
                    log.warning(
                        "OpenLineage: %d events are waiting to be sent (lineage.buffer); dropping new ones "
                        "until the receiver catches up",
                        self.queue.maxsize,
                    )

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            try:
                self._emit(event)
            finally:
                self.queue.task_done()

    def _emit(self, event: Any) -> None:
        delay = BACKOFF_S
        for attempt in range(self.retries + 1):
            try:
                self.client.emit(event)
                self.sent += 1
                if self.queue.empty():
                    self._warned_full = False
                return
            except Exception as exc:
                if attempt == self.retries:
                    self.dropped += 1
                    log.warning(
                        "OpenLineage: could not send a %s after %s (%s: %s); dropped it",
                        type(event).__name__,
                        "1 try" if attempt == 0 else f"{attempt + 1} tries",
                        type(exc).__name__,
                        exc,
                    )
                    return
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queue to empty; whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return self.queue.unfinished_tasks == 0


_EMITTERS: dict[str, Emitter] = {}
_LOCK = threading.Lock()


def emitter_for(settings: LineageSettings | None, root: Path) -> Emitter | None:
    """The process's emitter for these settings (one thread per transport), or None to send nothing."""
    if settings is None or not settings.enabled:
        return None
    key = f"{root}\0{settings.model_dump_json()}"
    with _LOCK:
        found = _EMITTERS.get(key)
        if found is None:
            try:
                client = make_client(settings, root)
            except Exception as exc:
                log.warning("OpenLineage: cannot create the client (%s: %s); sending nothing", type(exc).__name__, exc)
                return None
            found = _EMITTERS[key] = Emitter(client, settings.buffer, settings.retries)
        return found


def _drain_all() -> None:
    for e in list(_EMITTERS.values()):
        e.drain(DRAIN_AT_EXIT_S)


atexit.register(_drain_all)
