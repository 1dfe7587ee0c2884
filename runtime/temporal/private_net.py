"""A network of its own for the embedded Temporal server, and who is at the other end of a loopback connection.

``temporal server start-dev`` has no TLS, authorizer or API-key flags, and it opens eight TCP ports on
its ``--ip`` (the frontend, its HTTP API, the Web UI, metrics and the internal services' gRPC and
membership ports), any of which another local user could reach on 127.0.0.1. So the gate
(``runtime.temporal.gate``) runs it in a network namespace of its own, where 127.0.0.1 is a loopback
nobody else shares, and forwards only the frontend and the UI from the host's loopback, to the owner
alone: ``HostSockets.uid_of`` reads the connecting socket's owner from the kernel's table.

Linux only, by syscalls (``unshare``, an ``ioctl`` for the loopback), so no ``unshare``/``ip`` binaries
are needed. As root a network namespace suffices; any other user needs a user namespace too (its own
uid mapped to itself, so files it writes stay the owner's), which some systems forbid (Ubuntu 24.04's
AppArmor ``kernel.apparmor_restrict_unprivileged_userns``, ``user.max_user_namespaces=0``, containers
without ``CAP_SYS_ADMIN`` under a seccomp profile that blocks ``unshare``).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sh22x"
"""``struct ifreq`` (40 bytes on 64-bit Linux): the interface name, then the flags of the union."""

SWITCH = "MODELPLANE_TEMPORAL_PRIVATE_NETWORK"
"""``off``: run the server on the host's loopback even where namespaces work (open to every local user; for a
platform whose security module misbehaves with them, or to reach the raw server from another account)."""
NETNS = "netns"
USERNS = "userns+netns"
NONE = "none"


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack(IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def _enter() -> str:
    uid, gid = os.geteuid(), os.getegid()
    tried = []
    if uid == 0:
        try:
            _unshare(CLONE_NEWNET)
            _loopback_up()
            return NETNS
        except OSError as exc:
            tried.append(f"a network namespace: {exc.strerror or exc}")
    try:
        _unshare(CLONE_NEWUSER | CLONE_NEWNET)
        _write("/proc/self/setgroups", "deny")  # required before an unprivileged gid_map
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        _loopback_up()
        return USERNS
    except OSError as exc:
        tried.append(f"user and network namespaces: {exc.strerror or exc}")
    raise OSError("; ".join(tried))


def enter_private_network() -> tuple[str, str]:
    """Move this process (it must have no threads yet) into a network namespace of its own, its loopback up.

    Returns (how: ``NETNS``, ``USERNS`` or ``NONE``, why not where ``NONE``). It is tried in a forked child
    first: an unshare that half works (a user namespace whose loopback cannot be raised) cannot be undone,
    and this process must then stay on the host's network.
    """
    if os.environ.get(SWITCH, "").lower() == "off":
        return NONE, f"{SWITCH}=off"
    if not sys.platform.startswith("linux"):
        return NONE, f"network namespaces are Linux only (this is {sys.platform})"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the trial
        os.close(r)
        try:
            msg = _enter()
            code = 0
        except OSError as exc:
            msg, code = str(exc), 1
        except BaseException as exc:  # a child must never return into the caller's code
            msg, code = repr(exc), 1
        os.write(w, msg.encode()[:4000])
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        said = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return NONE, said or "the trial process failed"
    return _enter(), ""


def _hex(addr: tuple[str, int]) -> bytes:
    """An IPv4 address and port as ``/proc/net/tcp`` prints them (the address in host byte order)."""
    ip = int.from_bytes(socket.inet_aton(addr[0]), sys.byteorder)
    return f"{ip:08X}:{addr[1]:04X}".encode()


class HostSockets:
    """The host's TCP table, opened before this process leaves the host's network (the file keeps the
    namespace it was opened in, and prints uids as the host sees them)."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/self/net/tcp", os.O_RDONLY | os.O_CLOEXEC)

    def uid_of(self, peer: tuple[str, int], local: tuple[str, int]) -> int | None:
        """The uid owning the socket at ``peer`` connected to our ``local`` (the kernel's record: a client
        cannot claim another), or None where that socket is no longer open and established.

        A socket its process has closed already (state FIN_WAIT, inode 0) is an orphan: older kernels print
        uid 0 for it, so a client that sends its request and closes at once would pass for root. Only an
        established socket with an inode counts."""
        os.lseek(self._fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self._fd, 1 << 16):
            chunks.append(chunk)
        want_local, want_remote = _hex(peer), _hex(local)
        for line in b"".join(chunks).split(b"\n")[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[1] == want_local and fields[2] == want_remote:
                established = fields[3] == b"01" and fields[9] != b"0"
                return int(fields[7]) if established else None
        return None
