"""The gate: the embedded Temporal server in a network of its own, reachable by its owner alone (issue 30).

It binds the host-side ports first (the frontend's, and the Web UI's), then leaves the host's network
(``private_net``), starts ``temporal server start-dev`` there on fixed ports, and once the frontend
answers listens on the host ports and reports ready on ``--ready-fd``. Each connection is forwarded
byte for byte only if the kernel says its socket belongs to the gate's own uid; any other is closed at
once, written to the log and, where the project's environment is known, to its audit trail
(``refused``, who: ``uid N (name)``, at most one entry per uid a minute with a count).

It exits when the server does (with its status), and stops the server on SIGTERM/SIGINT; the server
gets SIGTERM should the gate die. Where namespaces are not allowed the server runs on the host's
loopback (free ports, open to every local user: the gate says so, and ``ServerInfo.isolation`` is
``none``).

    python -m modelplane.runtime.temporal.gate --db D --namespace N --port P [--ui-port U] --ready-fd F
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from modelplane.runtime.temporal import private_net
from modelplane.runtime.temporal.server import server_command

INNER_PORT = 7233
INNER_UI_PORT = 8233
START_TIMEOUT_S = 30.0
AUDIT_EVERY_S = 60.0
"""A uid's refusals on one port after its first are counted and written at most once a minute (a client
retrying in a loop must not fill the audit trail)."""
PR_SET_PDEATHSIG = 1


def _log(msg: str) -> None:
    print(f"modelplane gate {os.getpid()}: {msg}", file=sys.stderr, flush=True)


def _user(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def _bind(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    return s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Refusals:
    """Writes refused connections to the log and the environment's audit trail, coalesced per uid."""

    def __init__(self, root: Path | None, environment: str | None, owner: int) -> None:
        self.root, self.environment, self.owner = root, environment, owner
        self._lock = threading.Lock()
        self._last: dict[tuple[int, str], float] = {}
        self._count: dict[tuple[int, str], int] = {}

    def refused(self, uid: int, what: str, address: str) -> None:
        who = _user(uid)
        why = f"only {_user(self.owner)}, who started the embedded server, may connect"
        _log(f"refused {who} on {what} ({address}): {why}")
        key = (uid, what)
        with self._lock:
            self._count[key] = self._count.get(key, 0) + 1
            if key in self._last and time.monotonic() - self._last[key] < AUDIT_EVERY_S:
                return
            self._last[key] = time.monotonic()
            count, self._count[key] = self._count[key], 0
        if self.root is None or self.environment is None:
            return
        detail = {"service": f"embedded Temporal {what}", "address": address, "why": why, "connections": count}
        try:
            from modelplane.runtime.settings import open_store, settings_for

            s = settings_for(self.root, self.environment)
            store = open_store(self.root, s.state)
            try:
                store.audit_add(self.environment, who, "refused", detail)
            finally:
                store.close()
        except Exception as exc:  # the refusal stands; only its record is missing
            _log(f"could not write the refusal to the audit trail: {type(exc).__name__}: {exc}")


class Gate:
    def __init__(self, table: private_net.HostSockets, refusals: Refusals) -> None:
        self.table, self.refusals, self.owner = table, refusals, refusals.owner

    def handler(self, inner: int, what: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer, local = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
            uid = self.table.uid_of(peer, local)
            if uid is None:  # closed before it was looked at (a port probe): nothing to forward, no one to name
                writer.transport.abort()
                return
            if uid != self.owner:
                writer.transport.abort()  # a reset, before a byte reaches the server
                address = f"{local[0]}:{local[1]}"
                await asyncio.get_running_loop().run_in_executor(None, self.refusals.refused, uid, what, address)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", inner)
            except OSError:
                writer.transport.abort()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            writer.close()
            up_writer.close()

        return handle


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(1 << 16):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()  # a half-close travels on (gRPC ends streams with it)
    except (OSError, RuntimeError):
        dst.transport.abort()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_server(args: argparse.Namespace, isolated: bool) -> tuple[subprocess.Popen[bytes], int, int | None]:
    # in a namespace of its own nothing else binds these; on the host they must be found free
    port = INNER_PORT if isolated else _free_port()
    ui_port = None if args.ui_port is None else INNER_UI_PORT if isolated else _free_port()
    cmd = server_command(Path(args.db), port, ui_port, args.namespace)
    proc = subprocess.Popen(cmd, pass_fds=tuple(args.keep_fd), preexec_fn=_die_with_parent)
    deadline = time.monotonic() + START_TIMEOUT_S
    # ready means the UI too: a browser (or the read-only front) sent there at once must not be hung up on
    while not all(_port_open(p) for p in (port, ui_port) if p is not None):
        if proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not isolated:
        time.sleep(0.3)  # a clash on one of its other (host) ports kills it a moment after the frontend opens
    return proc, port, ui_port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--port", type=int, required=True, help="the frontend's port on the host's 127.0.0.1")
    ap.add_argument("--ui-port", type=int, help="the Web UI's port on the host's 127.0.0.1 (none: headless)")
    ap.add_argument("--ready-fd", type=int, help="where to write one JSON line once the server answers")
    ap.add_argument("--keep-fd", type=int, action="append", default=[], help="passed on to the server")
    ap.add_argument("--root", type=Path, help="the project, to write refusals to its audit trail")
    ap.add_argument("--environment", help="whose audit trail records refusals")
    args = ap.parse_args()

    owner = os.geteuid()
    try:  # before anything else: a port taken here is the starter's cue to try another
        listeners = [(_bind(args.port), "frontend")]
        if args.ui_port is not None:
            listeners.append((_bind(args.ui_port), "Web UI"))
    except OSError as exc:
        _log(f"cannot bind 127.0.0.1:{args.port}/{args.ui_port}: {exc}")
        return 3
    table = private_net.HostSockets()  # the host's table, read after this process has left the host's network
    how, why = private_net.enter_private_network()
    if how == private_net.NONE:
        _log(f"the embedded server runs on the host's loopback, open to every local user: {why}")
    proc, inner, inner_ui = _start_server(args, isolated=how != private_net.NONE)
    if proc.poll() is not None or not _port_open(inner):
        _log(f"the Temporal server did not start (exit {proc.poll()})")
        proc.kill()
        return 1
    return asyncio.run(_serve(args, listeners, table, Refusals(args.root, args.environment, owner), proc, inner,
                              inner_ui, how, why))  # fmt: skip


async def _serve(
    args: argparse.Namespace,
    listeners: list[tuple[socket.socket, str]],
    table: private_net.HostSockets,
    refusals: Refusals,
    proc: subprocess.Popen[bytes],
    inner: int,
    inner_ui: int | None,
    how: str,
    why: str,
) -> int:
    gate = Gate(table, refusals)
    servers = []
    for sock, what in listeners:
        target = inner if what == "frontend" else inner_ui
        assert target is not None
        servers.append(await asyncio.start_server(gate.handler(target, what), sock=sock))
    if args.ready_fd is not None:
        os.write(args.ready_fd, (json.dumps({"isolation": how, "why": why}) + "\n").encode())
        os.close(args.ready_fd)
    _log(f"serving {[s.getsockname() for s, _ in listeners]} to {_user(refusals.owner)} (isolation: {how})")
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    exited = asyncio.ensure_future(asyncio.to_thread(proc.wait))
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([exited, stop], return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.close()
    if not exited.done():
        proc.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(exited), 4.0)
        except TimeoutError:
            proc.kill()
            await exited
    stop.cancel()
    return proc.returncode if proc.returncode >= 0 else 0


if __name__ == "__main__":
    sys.exit(main())
