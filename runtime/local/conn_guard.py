"""Bounds on a server's connections, below the HTTP layer: a cap, and deadlines for idle and half-sent requests.

aiohttp (as of 3.14) has no header-read timeout: a client that sends a request
one byte at a time (slowloris) holds its connection for as long as it likes,
and enough of them exhaust the process's file descriptors. ``ConnectionGuard``
wraps the server's protocol factory:

* past ``max_connections`` open connections, a new one gets a complete
  ``503`` with a JSON body saying so, and is closed;
* a connection must deliver a request's headers within ``header_timeout``
  seconds of connecting, or of the first byte after an idle spell, and may sit
  idle between requests for ``idle_timeout``; otherwise it is closed (with a
  ``408`` if a request had begun).

The HTTP layer says when a request's headers are complete (``request_started``)
and when its handler is done (``request_finished``); reading the body has its
own deadline in the handler.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def raw_response(status: int, reason: str, body: dict[str, Any], extra: str = "") -> bytes:
    """A whole HTTP/1.1 response, written straight to a transport (there is no HTTP layer for it)."""
    data = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        f"Connection: close\r\n{extra}\r\n"
    )
    return head.encode() + data


class _Guarded(asyncio.Protocol):
    """One connection: forwards everything to the HTTP layer's protocol while enforcing the guard's bounds."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.busy = 0
        self.refused = False
        self.partial = False
        """Bytes of a request have arrived that the HTTP layer has not turned into a request yet."""

    # -- deadlines ---------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is not None and self.refused:
            transport.close()
            return
        if transport is None or self.busy:
            return
        self.guard.timed_out += 1
        if self.partial and transport.get_write_buffer_size() == 0:
            transport.write(self.guard.timeout_response)
        transport.close()

    def started(self) -> None:
        self.busy += 1
        self.partial = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def finished(self) -> None:
        self.busy -= 1
        if self.busy == 0 and self.transport is not None:
            self._arm(self.guard.idle_timeout)

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        guard = self.guard
        if len(guard.open) >= guard.max_connections:
            guard.refused += 1
            self.refused = True
            transport.write(guard.refused_response)
            if transport.can_write_eof():
                transport.write_eof()
            # keep reading (and dropping) the request briefly: closing on unread data would reset the
            # connection, and the client could lose the 503 it was sent
            self._arm(guard.linger)
            return
        guard.open[transport] = self
        self._arm(guard.header_timeout)
        self.partial = True
        self.inner = guard.factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return  # a refused connection: its request is dropped
        if self.busy == 0 and not self.partial:  # the first byte of a request after an idle spell
            self.partial = True
            self._arm(self.guard.header_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.guard.open.pop(self.transport, None)
        self.transport = None
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


@dataclass(eq=False)
class ConnectionGuard:
    factory: Callable[[], asyncio.Protocol]
    max_connections: int
    header_timeout: float
    idle_timeout: float
    refused_body: dict[str, Any]
    linger: float = 0.5
    """How long a refused connection keeps reading after its 503, so closing it does not reset it unread."""
    open: dict[asyncio.BaseTransport, _Guarded] = field(default_factory=dict)
    refused: int = 0
    timed_out: int = 0

    def __post_init__(self) -> None:
        self.refused_response = raw_response(503, "Service Unavailable", self.refused_body, "Retry-After: 1\r\n")
        self.timeout_response = raw_response(
            408,
            "Request Timeout",
            {
                "error": {
                    "message": f"the request was not received within {self.header_timeout:g} s",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "request_timeout",
                }
            },
        )

    def protocol(self) -> asyncio.Protocol:
        """The protocol factory to serve with (``loop.create_server(guard.protocol, ...)``)."""
        return _Guarded(self)

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        conn = self.open.get(transport) if transport is not None else None
        if conn is not None:
            conn.started()

    def request_finished(self, transport: asyncio.BaseTransport | None) -> None:
        conn = self.open.get(transport) if transport is not None else None
        if conn is not None:
            conn.finished()
