"""Embedded mode: the background worker and the dev server stop after `temporal.idle_stop` with no
apply running, and the next command that needs them starts them again."""

from __future__ import annotations

import json
import time

from modelplane.runtime.procs import pid_alive, port_open
from tests.integration.pipeline import Pipeline


def _wait_dead(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.25)
    return False


def test_idle_worker_and_server_stop_and_come_back(pipeline: Pipeline) -> None:
    p = pipeline
    (p.root / "modelplane.yaml").write_text((p.root / "modelplane.yaml").read_text() + "temporal: {idle_stop: 2s}\n")
    p.env = {"MODELPLANE_WORKER_IDLE_EXIT": ""}  # the project's setting, not the test suite's override
    p.run("apply", "--auto-approve", check=True)
    worker, server = p.worker_pid(), p.server_pid()
    address = json.loads((p.root / ".modelplane" / "temporal.json").read_text())["address"]
    # idle 2 s, checked every 5 s: both are gone well within 30 s
    assert _wait_dead([worker, server], timeout=30), "worker or server still running after the idle period"
    assert not port_open(address)
    log = (p.root / ".modelplane" / "logs" / "worker.log").read_text()
    assert "no apply running for 2 s: exiting" in log
    assert f"stopped the embedded Temporal server (pid {server})" in log

    # status reads the state without a server; the next apply brings both back
    status = p.run("status", check=True)
    assert "no apply running" in status.stdout
    p.edit('version: "1"', 'version: "2"')
    again = p.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert p.server_pid() != server and p.worker_pid() != worker
