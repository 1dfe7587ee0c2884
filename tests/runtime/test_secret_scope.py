"""MODELPLANE_SECRET_* values reach only the processes that use them (issue 30, item 7).

The router, the Temporal server and the UI proxy get none (``spawn_detached``'s default environment), the
autoscaler only its endpoint's (it starts replicas), the background worker all (it resolves them). Read back
from /proc/<pid>/environ of real processes.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from modelplane.runtime.procs import spawn_detached
from modelplane.runtime.provisioners.local import _spawn, secret_env_vars

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc/<pid>/environ")

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def environ_of(pid: int) -> dict[str, str]:
    """The environment the process runs with, read once it has exec'd ``SLEEP`` (read before, under load, it was
    the forked child's, empty or the parent's)."""
    deadline = time.monotonic() + 10
    while b"time.sleep(60)" not in Path(f"/proc/{pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_a_detached_process_gets_no_secret_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPLANE_SECRET_HF_TOKEN", "hf-value")
    monkeypatch.setenv("MODELPLANE_SECRET_DB", "db-value")
    proc = spawn_detached(SLEEP, tmp_path / "log")  # as the router, Temporal server and UI proxy are started
    try:
        env = environ_of(proc.pid)
        assert not [k for k in env if k.startswith("MODELPLANE_SECRET_")]
        assert "hf-value" not in "".join(env.values()) and env.get("PATH") == os.environ["PATH"]
    finally:
        stop(proc.pid)


def test_the_autoscaler_gets_only_its_endpoints_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPLANE_SECRET_HF_TOKEN", "hf-value")
    monkeypatch.setenv("MODELPLANE_SECRET_DB", "db-value")
    monkeypatch.setenv("MY_OWN_VAR", "from-file-source")
    declared = {"HF_TOKEN": {}, "API": {"env": "MY_OWN_VAR"}, "KEYFILE": {"file": "key.txt"}}
    assert secret_env_vars(declared) == ["MODELPLANE_SECRET_HF_TOKEN", "MY_OWN_VAR"]
    ident = _spawn(SLEEP, tmp_path / "log", tmp_path, keep=secret_env_vars(declared))
    try:
        env = environ_of(ident.pid)
        assert env["MODELPLANE_SECRET_HF_TOKEN"] == "hf-value"
        assert "MODELPLANE_SECRET_DB" not in env
    finally:
        stop(ident.pid)
