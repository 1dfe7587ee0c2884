"""Signal only our own processes: a recorded pid is trusted only with the identity recorded beside it.

A pid written to a file (the Temporal server's, the worker's, the local
stack's routers and replicas) outlives the process: once it exits, the kernel
hands the number to the next process started, and a later ``down`` would kill
that stranger. So every place that records a pid also records the process's
*identity* when it was started: its start time (``/proc/<pid>/stat`` field 22,
clock ticks since boot, with the boot time from ``/proc/stat`` so a reboot
cannot match) and its command line. Before any signal both are read again and
compared; a mismatch means "our process is already gone" and is logged, never
signalled. On Linux the check and the signals go through a pidfd, so the
process checked is the process signalled even if the pid is reused in between.
Where there is no ``/proc`` (macOS) the same is read from ``ps``.

Also the small helpers every process starter needs (the embedded server, the local stack):
``free_port``, ``port_open``, ``pid_alive`` (liveness only) and ``file_lock``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from modelplane.files import PRIVATE_UMASK, private_dir, private_opener

log = logging.getLogger("modelplane.procs")

BOOT_TIME_SLACK_S = 60
"""``btime`` moves when the wall clock is stepped (NTP); a reboot moves it by the whole previous uptime."""
STAMP_WAIT_S = 5.0


class Tracked(Protocol):
    """A recorded process: the registry's routers and replicas, the server and worker records."""

    @property
    def pid(self) -> int: ...

    @property
    def started(self) -> str: ...

    @property
    def cmdline(self) -> Sequence[str]: ...


class Identity:
    """What ``identify`` read: a concrete ``Tracked`` (also how a record without a model is checked)."""

    __slots__ = ("cmdline", "pid", "started")

    def __init__(self, pid: int, started: str, cmdline: Sequence[str]) -> None:
        self.pid = pid
        self.started = started
        self.cmdline = list(cmdline)

    def __repr__(self) -> str:
        return f"Identity(pid={self.pid}, started={self.started!r}, cmdline={self.cmdline!r})"


def _boot_time() -> int | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _from_proc(pid: int) -> tuple[str, list[str], bool] | None:
    """(started, cmdline, zombie) from /proc, or None when the process does not exist."""
    base = Path(f"/proc/{pid}")
    try:
        stat = (base / "stat").read_text()
        raw = (base / "cmdline").read_bytes()
    except OSError:
        return None
    # field 2 (the command name) is in parentheses and may itself hold spaces or ')': split after the last one
    fields = stat.rsplit(")", 1)[1].split()
    state, ticks = fields[0], fields[19]  # fields 3 and 22
    return f"{_boot_time()}:{ticks}", [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]], state == "Z"


def _from_ps(pid: int) -> tuple[str, list[str], bool] | None:
    """The same from ``ps`` where there is no /proc; the start time is then ps's (second resolution)."""
    try:
        out = subprocess.run(
            ["ps", "-p", str(pid), "-o", "stat=", "-o", "lstart=", "-o", "command="],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) < 6:
        return None
    # lstart is five words ("Tue Dec  1 20:05:07 2026"); the command line follows (its spaces are ambiguous)
    return "ps:" + " ".join(parts[1:6]), parts[6:], parts[0].startswith("Z")


def _read(pid: int) -> tuple[str, list[str], bool] | None:
    if pid <= 0:  # 0 and negative pids mean process groups (-1: every process): never a recorded process
        return None
    return _from_proc(pid) if Path("/proc/self/stat").exists() else _from_ps(pid)


def identify(pid: int) -> Identity | None:
    """The identity of the running process ``pid`` now (call right after starting it), or None if it is gone."""
    got = _read(pid)
    if got is None or got[2]:
        return None
    return Identity(pid, got[0], got[1])


def stamp(pid: int) -> Identity:
    """What to record for a process just started: its identity, or a blank one (never matched) if it is gone.

    ``Popen`` returns once the child's ``exec`` has closed its close-on-exec
    pipe, which the kernel does before it sets up the new program's arguments:
    for a moment the command line reads empty. Wait that moment out.
    """
    deadline = time.monotonic() + STAMP_WAIT_S
    while True:
        ident = identify(pid)
        if ident is None:
            return Identity(pid, "", [])
        if ident.cmdline or time.monotonic() > deadline:
            return ident
        time.sleep(0.001)


def _same_start(recorded: str, now: str) -> bool:
    if recorded.startswith("ps:") or now.startswith("ps:"):
        return recorded == now
    try:
        boot_a, ticks_a = recorded.split(":")
        boot_b, ticks_b = now.split(":")
        return ticks_a == ticks_b and abs(int(boot_a) - int(boot_b)) <= BOOT_TIME_SLACK_S
    except ValueError:
        return False


def mismatch(proc: Tracked) -> str | None:
    """Why ``proc.pid`` is not (any longer) the process recorded, or None when it is ours and running."""
    if not proc.started:
        return "no start time was recorded for it, so it cannot be told from another process with that pid"
    got = _read(proc.pid)
    if got is None:
        return "no process has that pid"
    started, cmdline, zombie = got
    if zombie:
        return "it has exited"
    if not _same_start(proc.started, started):
        return f"the pid now belongs to a process started at {started}, not {proc.started} (the pid was reused)"
    if list(proc.cmdline) != cmdline and not _same_cmdline(list(proc.cmdline), cmdline):
        return f"the pid now runs `{' '.join(proc.cmdline)[:200]}`, not the recorded command (the pid was reused)"
    return None


def _same_cmdline(recorded: list[str], now: list[str]) -> bool:
    """A command line recorded in its reference form (``${secret.NAME}`` where the process got a value, never
    written down) matches the running one where each reference stands for some text."""
    if len(recorded) != len(now) or not any("${secret." in a for a in recorded):
        return False
    from modelplane.compiler.load.secrets import substitute

    for r, n in zip(recorded, now, strict=True):
        if r == n:
            continue
        if "${secret." not in r:
            return False
        pattern = re.escape(substitute(r, lambda _: "\0")).replace(re.escape("\0"), ".*")
        if re.fullmatch(pattern, n, re.DOTALL) is None:
            return False
    return True


def is_ours(proc: Tracked) -> bool:
    """Is the recorded process still running (same pid, start time and command line)?"""
    return mismatch(proc) is None


@contextlib.contextmanager
def _handle(pid: int) -> Iterator[int | None]:
    """A pidfd for ``pid`` (Linux >= 5.3): signals through it reach that process or none, never a successor."""
    opener = getattr(os, "pidfd_open", None)
    fd = None
    if opener is not None:
        with contextlib.suppress(OSError):
            fd = opener(pid)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _send(pid: int, fd: int | None, sig: int) -> bool:
    try:
        if fd is not None:
            signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _exited(pid: int, fd: int | None, timeout: float) -> bool:
    """Wait up to ``timeout`` for the process to exit; reaps it when it is our child."""
    if fd is not None:  # a pidfd turns readable when its process exits, whatever happens to the pid after
        exited = bool(select.select([fd], [], [], max(0.0, timeout))[0])
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return exited
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        got = _read(pid)
        if got is None or got[2]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def terminate(proc: Tracked, grace: float = 3.0, what: str = "process") -> bool:
    """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL: only if ``proc`` is still ours.

    Returns whether it was signalled. A process that is no longer ours is
    treated as already gone and the reason is logged.
    """
    if proc.pid <= 0:
        log.warning("not signalling %s: recorded pid %s is not a process id", what, proc.pid)
        return False
    with _handle(proc.pid) as fd:
        # checked after the pidfd is open: the pidfd pins the process that was checked
        why = mismatch(proc)
        if why is not None:
            if why not in ("no process has that pid", "it has exited"):
                log.warning("not signalling %s pid %s: %s; treating it as already gone", what, proc.pid, why)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
            return False
        if not _send(proc.pid, fd, signal.SIGTERM):
            return False
        if not _exited(proc.pid, fd, grace):
            # without a pidfd, re-check before the second signal: the pid may have been reused meanwhile
            if fd is not None or is_ours(proc):
                _send(proc.pid, fd, signal.SIGKILL)
            _exited(proc.pid, fd, 1.0)
    return True


def spawn_detached(
    cmd: Sequence[str],
    log: Path,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a process that outlives this one and its Ctrl-C (own session), output appended to ``log``
    (created 0600), with umask 077: what it writes under `.modelplane/` is the owner's alone. ``pass_fds``
    are inherited (a lock the child then holds for as long as it lives); ``env``: its environment (default
    this process's less the ``MODELPLANE_SECRET_*`` values: a router, an autoscaler, the Temporal server or
    the UI proxy never needs them; the worker, which resolves them, is given them explicitly)."""
    private_dir(log.parent)
    if env is None:
        env = without_secrets()
    with open(log, "ab", opener=private_opener) as out:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            umask=PRIVATE_UMASK,
            pass_fds=tuple(pass_fds),
            env=env,
        )


def without_secrets(keep: Sequence[str] = ()) -> dict[str, str]:
    """This process's environment less the ``MODELPLANE_SECRET_*`` variables, but for those in ``keep``."""
    from modelplane.compiler.load.secrets import ENV_PREFIX

    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) or k in keep}


def free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise AssertionError("no free port")  # binding port 0 does not fail


def port_open(address: str, timeout: float = 0.2) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int, expect: str | None = None) -> bool:
    """Is ``pid`` running (and, when given, is ``expect`` in its command line: pids get reused)?

    A zombie (exited, not yet reaped by its parent) is not running. Only for liveness: before a
    signal, ``procs`` checks the recorded start time as well.
    """
    if pid <= 0:  # kill(0 or -n, ...) addresses process groups, which are always "alive"
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc (macOS): trust the pid
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False
    return expect is None or expect in cmdline
