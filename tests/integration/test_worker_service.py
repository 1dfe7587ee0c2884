"""A worker service configured by environment variables alone, and its log (issue 30, item 7).

- ``modelplane worker`` in a directory with no modelplane.yaml polls the service ``MODELPLANE_TEMPORAL_*``
  name (the team-mode test runs an apply on one); with neither, it says what is missing and how to fix it;
- Temporal core's WARN lines (polls retried while the server is away) come out of a ``--log-format json``
  worker as JSON records of its own, never as coloured text between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelplane.runtime.procs import free_port
from modelplane.runtime.temporal.server import server_command

pytestmark = pytest.mark.integration


def _worker(where: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    where.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "modelplane", "worker", "--log-format", "json"],
            cwd=where, stdout=out, stderr=subprocess.STDOUT, env={**clean, "NO_COLOR": "", **env},
        )  # fmt: skip


def test_an_env_only_worker_logs_temporal_core_warnings_as_json_lines(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        server_command(tmp_path / "temporal.db", port, None, "default"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = tmp_path / "worker.log"
    worker = _worker(
        tmp_path / "service", log, MODELPLANE_TEMPORAL_ADDRESS=f"127.0.0.1:{port}", MODELPLANE_TEMPORAL_TASK_QUEUE="q1"
    )
    try:
        deadline = time.monotonic() + 60
        while '"event": "polling"' not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert (tmp_path / "service" / ".modelplane" / "worker.json").exists()  # its files where it runs
        server.kill()  # the worker's polls now fail and are retried: Temporal core warns about them
        server.wait()
        deadline = time.monotonic() + 60
        while "temporalio.core" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        if server.poll() is None:
            server.kill()
    text = log.read_text()
    assert "\x1b[" not in text, text[:2000]  # no colours
    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    polling = next(r for r in records if r.get("event") == "polling")
    assert polling["task_queue"] == "q1" and polling["address"] == f"127.0.0.1:{port}"
    core = [r for r in records if str(r.get("logger", "")).startswith("temporalio.core")]
    assert core and all(r["level"] == "warning" for r in core), core[:3]
    assert any("retried" in r["msg"] for r in core), core[:3]


def test_a_worker_with_neither_a_project_file_nor_an_address_says_how_to_fix_it(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    worker = _worker(tmp_path / "empty", log)
    assert worker.wait(timeout=60) == 1
    said = log.read_text()
    assert f"no modelplane.yaml in {tmp_path / 'empty'}, and MODELPLANE_TEMPORAL_ADDRESS is not set" in said, said
    assert "hint: run it in a directory with a modelplane.yaml" in said, said
    assert "Traceback" not in said
