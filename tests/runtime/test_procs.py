"""A recorded pid is signalled only while it is still the process recorded (start time and command line).

PID reuse is simulated the only way a test can: a record whose pid is an
unrelated live process (a decoy this test starts) but whose identity is another
process's, exactly what a registry holds once its process exited and the
kernel gave the pid to someone else.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.runtime import procs
from modelplane.runtime.local.registry import Registry, Replica, Revision, RouterProc, registry_path, write
from modelplane.runtime.procs import Identity, identify, is_ours, mismatch, stamp, terminate
from modelplane.runtime.provisioners.local import down_endpoint
from modelplane.runtime.temporal.client import stop_worker
from modelplane.runtime.temporal.server import ServerInfo, stop_server
from tests.conftest import MINIMAL_PROJECT

# the decoy's command line names what the old, name-only checks looked for: only the start time tells it apart
DECOY = [sys.executable, "-c", "import time; time.sleep(120)", "modelplane", "temporal"]


@pytest.fixture
def spawn() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        p = subprocess.Popen(DECOY)
        started.append(p)
        assert stamp(p.pid).cmdline == DECOY  # its program runs (see the last test)
        time.sleep(0.05)  # start times count 10 ms ticks: two decoys must not share one
        return p

    yield start
    for p in started:  # only what this test started, by its own handle
        p.kill()
        p.wait()


def _reused(decoy: subprocess.Popen[bytes], other: subprocess.Popen[bytes]) -> Identity:
    """A record for ``decoy.pid`` as it would read had the pid belonged to ``other`` when recorded."""
    mine = stamp(other.pid)
    return Identity(decoy.pid, mine.started, stamp(decoy.pid).cmdline)


def test_identity_is_start_time_with_boot_time_and_command_line(spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
    p = spawn()
    ident = identify(p.pid)
    assert ident is not None
    boot, ticks = ident.started.split(":")
    assert int(boot) > 0 and int(ticks) > 0
    assert ident.cmdline == DECOY
    assert is_ours(ident)


def test_a_reused_pid_is_not_signalled(
    spawn: Callable[[], subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    decoy, earlier = spawn(), spawn()
    record = _reused(decoy, earlier)
    assert "reused" in (mismatch(record) or "")
    with caplog.at_level(logging.WARNING, logger="modelplane.procs"):
        assert terminate(record, grace=0.5, what="replica 1234 of endpoint/x") is False
    assert decoy.poll() is None  # still running
    assert "not signalling replica 1234 of endpoint/x" in caplog.text and "reused" in caplog.text


def test_a_different_command_line_is_not_signalled(spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
    decoy = spawn()
    record = Identity(decoy.pid, stamp(decoy.pid).started, [sys.executable, "-m", "modelplane.runtime.local.router"])
    assert terminate(record, grace=0.5) is False
    assert decoy.poll() is None


def test_a_record_without_a_start_time_is_never_signalled(spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
    decoy = spawn()
    assert terminate(Identity(decoy.pid, "", DECOY), grace=0.5) is False
    assert decoy.poll() is None


def test_our_own_process_is_stopped(spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
    p = spawn()
    assert terminate(stamp(p.pid), grace=5.0) is True
    assert p.poll() is not None  # exited (and reaped by terminate: it is our child)
    assert not is_ours(stamp(p.pid))


def test_group_pids_are_never_a_process() -> None:
    # kill(0) and kill(-1) address process groups: a registry holding 0 (as benchmarks write) must not reach them
    assert identify(0) is None and identify(-1) is None
    assert mismatch(Identity(0, "1:1", [])) is not None


def test_down_leaves_unrelated_processes_alone(
    spawn: Callable[[], subprocess.Popen[bytes]], make_project: Callable[..., Path]
) -> None:
    """`modelplane down` with a registry, worker record and server record that all point at strangers."""
    from modelplane.cli import app

    root = make_project({}, project=MINIMAL_PROJECT)
    decoy, other = spawn(), spawn()
    reused = _reused(decoy, other)
    rep = Replica(pid=decoy.pid, port=1, started=reused.started, cmdline=reused.cmdline)
    legacy = Replica(pid=decoy.pid, port=2)  # what the registry held before identities were recorded
    router = RouterProc(pid=decoy.pid, port=3, started=reused.started, cmdline=reused.cmdline, token="t")
    write(
        registry_path(root, "dev", "chat"),
        Registry(endpoint="chat", environment="dev", router=router,
                 revisions={"r1": Revision(role="stable", weight=100, replicas=[rep, legacy])}),
    )  # fmt: skip
    state = root / ".modelplane"
    worker = {"pid": decoy.pid, "started": reused.started, "cmdline": reused.cmdline, "address": "127.0.0.1:1"}
    (state / "worker.json").write_text(json.dumps(worker))
    server = ServerInfo(decoy.pid, "127.0.0.1:1", None, "db", "default", reused.started, reused.cmdline)
    (state / "temporal.json").write_text(json.dumps(server.__dict__))

    result = CliRunner().invoke(app, ["down", "-C", str(root), "--env", "dev"])
    assert result.exit_code == 0, result.output
    assert "stopped endpoint/chat (0 processes)" in result.output
    assert decoy.poll() is None and other.poll() is None
    # each path on its own, too
    assert stop_worker(root) is False and stop_server(root) is None
    assert down_endpoint(root, "dev", "chat") == 0  # the registry is gone now: nothing to do
    assert decoy.poll() is None


def test_procs_module_reads_the_documented_stat_field(spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
    """Field 22 of /proc/<pid>/stat, counted from the end of the parenthesised command name."""
    p = spawn()
    stat = Path(f"/proc/{p.pid}/stat").read_text()
    after_comm = stat.rsplit(")", 1)[1].split()
    assert procs.identify(p.pid) is not None
    assert stamp(p.pid).started.endswith(":" + after_comm[22 - 3])


def test_the_stamp_taken_right_after_popen_has_the_command_line() -> None:
    """Popen returns a moment before the kernel publishes the new program's arguments: stamp waits for them."""
    started = []
    try:
        for _ in range(20):
            p = subprocess.Popen(["sleep", "60"])
            started.append(p)
            ident = stamp(p.pid)
            assert ident.cmdline == ["sleep", "60"] and is_ours(ident)
    finally:
        for p in started:
            p.kill()
            p.wait()
