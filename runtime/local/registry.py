"""The local stack's registry: which router and replica processes serve each endpoint (endpoint discovery).

One JSON file per environment and endpoint under ``.modelplane/local/<env>/``.
The provisioner writes it (under a file lock, atomically); the router re-reads
it when it changes, so replicas come and go without dropping requests; a new
worker re-adopts the processes it lists after a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelplane.compiler.sources import atomic_write
from modelplane.runtime.server import file_lock
from pydantic import BaseModel, Field


class Replica(BaseModel):
    pid: int
    port: int
    log: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Revision(BaseModel):
    role: str = "canary"
    """stable | canary | draining"""
    weight: int = 0
    model: str = ""
    engine: str = "simulator"
    """simulator | vllm"""
    replicas: list[Replica] = Field(default_factory=list)


class RouterProc(BaseModel):
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Registry(BaseModel):
    endpoint: str
    environment: str
    policy: str = "power_of_two_choices"
    max_retries: int = 1
    retry_on: list[int] = Field(default_factory=lambda: [503, 429])
    router: RouterProc | None = None
    revisions: dict[str, Revision] = Field(default_factory=dict)

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


def write(path: Path, reg: Registry) -> None:
    atomic_write(path, reg.model_dump_json(indent=2).encode())


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


def as_json(reg: Registry) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(reg.model_dump_json())
    return data
