"""Issue 30, item 2: the embedded Temporal server is reachable by its owner alone, its UI only through the proxy.

Real processes: the CLI applies as the owner (root here); a second OS user, ``nobody``, tries every port
the server's processes listen on from the host, and starts an ``ApplyPlan`` workflow with the ``temporal``
CLI. The server runs in a network namespace of its own (``runtime/temporal/gate.py``), so its own eight
ports are not on the host at all; the gate's two are open to the owner's uid only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from modelplane.runtime.settings import settings_for
from modelplane.runtime.state.sqlite import StateStore
from modelplane.runtime.temporal.private_net import SWITCH
from modelplane.runtime.temporal.server import ensure_server, stop_server, temporal_binary
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

NOBODY = 65534


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _listening(pids: list[int], table: Path = Path("/proc/net/tcp")) -> set[int]:
    """The TCP ports these processes listen on in the network ``table`` belongs to (the host's: ours)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = set()
    for line in table.read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A" and f[9] in inodes:  # LISTEN
            ports.add(int(f[1].split(":")[1], 16))
    return ports


def _as_nobody(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", "bash", "-c", script], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def _raw(port: int, request: str, cwd: Path, owner: bool = False) -> str:
    """What ``nobody`` (or the owner) reads back after sending ``request`` to 127.0.0.1:port, once connected
    (bash's /dev/tcp: no client library in between)."""
    script = f"exec 3<>/dev/tcp/127.0.0.1/{port} || exit 7; printf '%b' '{request}' >&3; cat <&3"
    out = (
        subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=cwd)
        if owner
        else (_as_nobody(script, cwd))
    )
    assert out.returncode != 7, f"could not connect to {port}: {out.stderr}"  # refused later, not unreachable
    return out.stdout


async def _workflow_ids(address: str, namespace: str) -> list[str]:
    from temporalio.client import Client

    client = await Client.connect(address, namespace=namespace)
    return [w.id async for w in client.list_workflows()]


async def _last_input(address: str, namespace: str, workflow_id: str) -> tuple[str, dict[str, Any]]:
    from temporalio.client import Client

    client = await Client.connect(address, namespace=namespace)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return started.task_queue.name, json.loads(started.input.payloads[0].data)


def _refusals(p: Pipeline) -> list[dict[str, Any]]:
    entries = StateStore(p.root / ".modelplane" / "state.db").audit("dev")
    return [{"who": e.who, **e.detail} for e in entries if e.action == "refused" and "service" in e.detail]


def _namespaces_allowed() -> str:
    """Why not, where this machine refuses network namespaces (a container without CAP_SYS_ADMIN whose
    seccomp profile blocks unshare); "" where they work. Probed in a child: it leaves the host's network."""
    probe = "from modelplane.runtime.temporal.private_net import enter_private_network as e; print(e()[1])"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def test_another_os_user_reaches_no_port_of_the_embedded_server(pipeline: Pipeline) -> None:
    why = _namespaces_allowed()
    if why:
        pytest.skip(f"this machine refuses network namespaces, so the server is open (it warns): {why}")
    p = pipeline
    p.run("apply", "--auto-approve", check=True, timeout=400)  # the owner's apply goes through the gate
    info = json.loads((p.root / ".modelplane" / "temporal.json").read_text())
    assert info["isolation"] in ("netns", "userns+netns"), info
    s = settings_for(p.root, "dev")
    address, namespace = info["address"], s.temporal.namespace
    front, raw_ui = int(address.rsplit(":", 1)[1]), int(info["cmdline"][info["cmdline"].index("--ui-port") + 1])
    proxy = int(info["ui_url"].rsplit(":", 1)[1])

    # on the host the server's processes listen on the gate's two ports and the read-only proxy's, nothing
    # else; the server itself listens (frontend, UI, HTTP API, metrics, internal services) in its own network
    server_tree = _tree(info["pid"])
    assert _listening([*server_tree, info["ui_proxy"]["pid"]]) == {front, raw_ui, proxy}
    temporal = [pid for pid in server_tree if pid != info["pid"]]
    inside = _listening(temporal, Path(f"/proc/{temporal[0]}/net/tcp"))
    assert 7233 in inside and 8233 in inside and len(inside) >= 5, inside

    queue, inp = asyncio.run(_last_input(address, namespace, s.workflow_id))
    shared = Path(tempfile.mkdtemp(prefix="mp-nobody-", dir="/tmp"))
    try:
        os.chmod(shared, 0o777)
        pwned = shared / "pwned"
        (shared / "input.json").write_text(json.dumps(inp).replace("scripts/step.py", f"-c open('{pwned}','w')#"))
        shutil.copy(temporal_binary(), shared / "temporal")  # nobody cannot read root's interpreter
        os.chmod(shared / "temporal", 0o755)
        os.chmod(shared / "input.json", 0o644)
        # 1. the temporal CLI, as nobody, starting an ApplyPlan workflow on the server's address
        start = _as_nobody(
            f"./temporal workflow start --address {address} --namespace {namespace} --task-queue {queue} "
            "--type ApplyPlan --workflow-id forged --input-file input.json --command-timeout 10s",
            shared,
        )
        said = start.stdout + start.stderr
        assert start.returncode != 0 and "forged" not in start.stdout, said
        # 2. each host port by hand: the gate's frontend and the raw Web UI hang up at once
        assert _raw(front, "PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n", shared) == ""
        terminate = f"POST /api/v1/namespaces/{namespace}/workflows/apply%2Fpipeline%2Fdev/terminate HTTP/1.0\\r\\n"
        settings = "GET /api/v1/settings HTTP/1.0\\r\\n\\r\\n"
        assert _raw(raw_ui, settings, shared) == ""
        assert _raw(raw_ui, settings, shared, owner=True).startswith("HTTP/1.0 200")  # the owner's uid is let in
        assert _raw(raw_ui, terminate + "Content-Length: 0\\r\\n\\r\\n", shared) == ""
        # 3. the read-only proxy is the UI's one way in: it reads, and refuses any write
        assert _raw(proxy, terminate + "Content-Length: 0\\r\\n\\r\\n", shared).startswith("HTTP/1.1 403")
        assert not pwned.exists()
    finally:
        shutil.rmtree(shared, ignore_errors=True)

    # the owner still reaches it, and nothing was started
    ids = asyncio.run(_workflow_ids(address, namespace))
    assert "forged" not in ids and s.workflow_id in ids
    with urllib.request.urlopen(info["ui_url"] + "/api/v1/settings", timeout=10) as r:
        assert json.loads(r.read())["DisableWriteActions"] is True
    deadline = time.monotonic() + 10
    while {r["service"] for r in _refusals(p)} != {"embedded Temporal frontend", "embedded Temporal Web UI"}:
        assert time.monotonic() < deadline, _refusals(p)
        time.sleep(0.2)
    for r in _refusals(p):
        assert r["who"] == "uid 65534 (nobody)" and "only uid 0 (root)" in r["why"], r
    history = p.run("history", check=True).stdout.splitlines()
    assert len(history) == 1 and "succeeded" in history[0], history
    assert "refused uid 65534 (nobody) on frontend" in (p.root / ".modelplane" / "logs" / "temporal.log").read_text()


def test_without_a_private_network_the_server_works_and_says_it_is_open(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The fallback where namespaces are refused (forced here with the switch): the server runs on the host's
    loopback, the owner's client reaches it through the gate, and starting it says it is open and how to fix it."""
    monkeypatch.setenv(SWITCH, "off")
    root = tmp_path / "p"
    root.mkdir()
    with caplog.at_level(logging.WARNING, "modelplane.temporal"):
        info = ensure_server(root, ui="off")
    try:
        assert info.isolation == "none"
        (said,) = caplog.messages
        assert f"open to every local user ({SWITCH}=off)" in said
        assert "user.max_user_namespaces" in said and "docs/trust.md" in said  # how to fix it
        assert "default" in asyncio.run(_namespaces(info.address))
        assert len(_listening(_tree(info.pid))) > 2  # the server's own ports are on the host's loopback
    finally:
        stop_server(root)


async def _namespaces(address: str) -> list[str]:
    from temporalio.api.workflowservice.v1 import ListNamespacesRequest
    from temporalio.client import Client

    client = await Client.connect(address)
    resp = await client.workflow_service.list_namespaces(ListNamespacesRequest())
    return [n.namespace_info.name for n in resp.namespaces]
