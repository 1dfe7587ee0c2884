"""Fixtures for integration tests (real processes, a real Temporal dev server)."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.runtime.procs import free_port
from modelplane.runtime.temporal.server import server_command
from tests.integration.pipeline import pipeline, quickstart  # noqa: F401  (fixtures)


@pytest.fixture
def temporal_server(tmp_path: Path) -> Iterator[str]:
    """A Temporal dev server of its own, standing in for a team's cluster: its address."""
    port = free_port()
    proc = subprocess.Popen(
        server_command(tmp_path / "temporal.db", port, None, "default"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
