"""The local stack's registry: which router and replica processes serve each endpoint (endpoint discovery).

One JSON file per environment and endpoint under ``.modelplane/local/<env>/``.
The provisioner writes it (under a file lock, atomically); the router re-reads
it when it changes, so replicas come and go without dropping requests; a new
worker re-adopts the processes it lists after a crash.

Every process it lists carries the start time and command line it had when it
was started (``runtime.procs`` checks them before signalling the pid), and the
router's entry carries the token its admin endpoints require. The file is
therefore written 0600: it is this user's, like the processes it lists.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from modelplane.files import file_lock

ADMIN_HEADER = "Authorization"


class LocalProcess(BaseModel):
    """A process of the local stack on 127.0.0.1: a replica or a router."""

    pid: int
    port: int
    started: str = ""
    """Identity when started (see ``runtime.procs``): without it the pid is never signalled."""
    cmdline: list[str] = Field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Replica(LocalProcess):
    """One replica of a revision (the simulator, or vLLM)."""

    log: str = Field(default="", description="Its log file (stdout and stderr), under the run folder.")
    ready: bool = True
    """False while a replica the autoscaler added starts: the router sends it nothing until it answers."""
    draining: bool = False
    """The autoscaler is removing it: the router sends it nothing new; it is stopped once idle."""


class Autoscaling(BaseModel):
    """The endpoint's autoscaling policy, as the local autoscaler runs it (from the typed spec)."""

    min_replicas: int
    max_replicas: int
    metric: str
    target: float
    up_stabilization_s: float
    up_percent: int
    up_period_s: float
    down_stabilization_s: float
    down_percent: int
    down_period_s: float
    drain_grace_s: float = 30.0


class ScalingEvent(BaseModel):
    at: float
    """Wall-clock seconds."""
    revision: str
    replicas_from: int
    replicas_to: int
    reason: str


class Revision(BaseModel):
    role: str = "canary"
    """stable | canary | draining"""
    weight: int = 0
    model: str = ""
    artifact: str | None = None
    """The digest of the weights a retrain made that it serves (``None``: the model spec's artifact)."""
    engine: str = "simulator"
    """simulator | vllm"""
    max_inflight: int | None = None
    """Requests one replica of this revision is given at most (``capacity``); the rest go elsewhere."""
    min_replicas: int = 0
    """What the rollout asked for (the capacity gate): the autoscaler never goes below it."""
    command: list[str] = Field(default_factory=list)
    """How a replica of it starts, with ``{port}`` for its port: what the autoscaler runs to add one
    (``${secret.NAME}`` as written: resolved as each replica starts, never stored)."""
    secrets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The secrets its replicas get (as ``MP_SECRET_<NAME>``, and in ``command``), each with its declared
    source (``{}``: the default): where to read them, never a value."""
    replicas: list[Replica] = Field(default_factory=list)


class RouterProc(LocalProcess):
    token: str = Field(default="", repr=False)
    """What the router's ``/admin/*`` endpoints require (``Authorization: Bearer <token>``)."""


class Registry(BaseModel):
    endpoint: str
    environment: str
    policy: str = "power_of_two_choices"
    max_retries: int = 1
    retry_on: list[int] = Field(default_factory=lambda: [503, 429])
    slow_start_s: float = 0.0
    """A replica new to the router gets a share of its load ramping up over this long."""
    router: RouterProc | None = None
    autoscaling: Autoscaling | None = None
    autoscaler: Replica | None = None
    """The autoscaler process (its port is unused: 0)."""
    scaling: list[ScalingEvent] = Field(default_factory=list)
    """The last scaling decisions, newest last (``status``, the router's /metrics)."""
    revisions: dict[str, Revision] = Field(default_factory=dict)
    canary_lease_until: float | None = None
    """Wall-clock seconds until which the rollout that gave a canary weight holds it; past it (the rollout's
    workflow terminated, its worker gone) the autoscaler's watchdog puts the declared weights back (stable 100).
    None: no canary has weight, or the rollout waits for a person (a manual pause, ``when_idle: hold``)."""

    def stable(self) -> str | None:
        return next((r for r, rev in self.revisions.items() if rev.role == "stable"), None)


def local_dir(root: Path, environment: str) -> Path:
    return root / ".modelplane" / "local" / environment


def registry_path(root: Path, environment: str, endpoint: str) -> Path:
    return local_dir(root, environment) / f"{endpoint}.json"


def read(path: Path) -> Registry | None:
    try:
        return Registry.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def admin_headers(reg: Registry | None) -> dict[str, str]:
    """The header that authorises a call to this registry's router's admin endpoints."""
    token = reg.router.token if reg is not None and reg.router is not None else ""
    return {ADMIN_HEADER: f"Bearer {token}"} if token else {}


def write(path: Path, reg: Registry) -> None:
    """Atomically, and created 0600 (never briefly readable by others: it holds the admin token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, 0o600)  # a leftover tmp file keeps its old mode through O_CREAT
        f.write(reg.model_dump_json(indent=2).encode())
    os.replace(tmp, path)


@contextmanager
def editing(root: Path, environment: str, endpoint: str) -> Iterator[Registry]:
    """Read-modify-write under a lock; the change is written only if the block succeeds."""
    path = registry_path(root, environment, endpoint)
    with file_lock(path.with_suffix(".lock")):
        reg = read(path) or Registry(endpoint=endpoint, environment=environment)
        yield reg
        write(path, reg)


def all_registries(root: Path, environment: str | None = None) -> list[tuple[Path, Registry]]:
    base = root / ".modelplane" / "local"
    dirs = [base / environment] if environment else sorted(p for p in base.glob("*") if p.is_dir())
    out = []
    for d in dirs:
        for path in sorted(d.glob("*.json")):
            reg = read(path)
            if reg is not None:
                out.append((path, reg))
    return out
