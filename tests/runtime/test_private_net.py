"""Who is at the other end of a loopback connection, as the gate of the embedded server reads it (issue 30)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

from modelplane.runtime.temporal.private_net import HostSockets

NOBODY = 65534
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None, reason="runs a client as `nobody` (root and runuser)"
)


def _client(port: int, then: str, as_nobody: bool) -> subprocess.Popen[bytes]:
    script = f"exec 3<>/dev/tcp/127.0.0.1/{port}; printf hello >&3; {then}"
    cmd = ["bash", "-c", script]
    return subprocess.Popen(["runuser", "-u", "nobody", "--", *cmd] if as_nobody else cmd)


def _accepted(listener: socket.socket) -> tuple[socket.socket, tuple[str, int]]:
    conn, peer = listener.accept()
    conn.recv(5)  # the client has written (and, where it closes, is closing)
    return conn, peer


@needs_root
def test_the_uid_is_the_kernels_and_a_closed_socket_names_no_one() -> None:
    table = HostSockets()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        for as_nobody, uid in ((True, NOBODY), (False, 0)):
            client = _client(port, "sleep 5", as_nobody)
            conn, peer = _accepted(listener)
            assert table.uid_of(peer, conn.getsockname()) == uid
            client.kill()
            conn.close()
        # a client that writes and closes at once leaves an orphan (older kernels print uid 0 for it): no one
        client = _client(port, "exec 3>&-", as_nobody=True)
        client.wait()
        conn, peer = _accepted(listener)
        assert table.uid_of(peer, conn.getsockname()) is None
        conn.close()
