"""The local router against hostile and clumsy clients: real router and simulator processes on loopback.

Every load here is bounded in count (a few hundred requests, a handful of
connections) and in time (each wait has a generous ceiling), and goes to
127.0.0.1 only. No assertion is on how long something took: the ceilings only
keep a broken router from hanging the suite.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from modelplane.runtime.local.registry import Registry, Replica, Revision, RouterProc, new_token, write
from modelplane.runtime.procs import free_port, port_open, stamp

pytestmark = pytest.mark.integration

MODEL = "chat"
MALFORMED: list[tuple[str, bytes]] = [
    ("/v1/completions", b"[1, 2, 3]"),  # a JSON list body
    ("/v1/completions", json.dumps({"model": MODEL, "prompt": "hi", "max_tokens": "abc"}).encode()),
    ("/v1/completions", b'{"model": "chat", "prompt": "hi",'),  # bad JSON
    ("/v1/completions", json.dumps({"prompt": "hi"}).encode()),  # no model
    ("/v1/completions", json.dumps({"model": MODEL}).encode()),  # no prompt
    ("/v1/completions", json.dumps({"model": MODEL, "prompt": "x", "max_tokens": -1}).encode()),
    ("/v1/completions", json.dumps({"model": MODEL, "prompt": "x", "stream": "yes"}).encode()),
    ("/v1/completions", json.dumps({"model": 7, "prompt": "x"}).encode()),
    ("/v1/completions", b"[" * 50_000),  # nested past the JSON parser's recursion limit
    ("/v1/completions", b"\xff\xfe not utf-8"),
    ("/v1/completions", b""),
    ("/v1/chat/completions", json.dumps({"model": MODEL, "messages": "hello"}).encode()),
    ("/v1/chat/completions", json.dumps({"model": MODEL, "messages": [1, 2]}).encode()),
    ("/v1/chat/completions", json.dumps({"model": MODEL, "messages": [], "temperature": "hot"}).encode()),
]
GOOD = {"model": MODEL, "prompt": "hello there", "max_tokens": 4}


class Stack:
    """Simulator replicas and routers this test started (stopped by their own handles afterwards)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.token = new_token()

    def _start(self, args: list[str], port: int) -> subprocess.Popen[bytes]:
        p = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        deadline = time.monotonic() + 90  # a ceiling for a loaded shared machine, not a timing assertion
        while not port_open(f"127.0.0.1:{port}"):
            assert p.poll() is None, f"{args[0]} exited with {p.returncode}"
            assert time.monotonic() < deadline, f"{args[0]} did not listen on {port}"
            time.sleep(0.05)
        return p

    def replica(self, revision: str, faults: dict[str, Any] | None = None, tpot_ms: float = 1.0) -> Replica:
        port = free_port()
        args = ["modelplane.runtime.local.simulator", "--port", str(port), "--served-model-name", MODEL]
        args += ["--revision", revision, "--ttft-ms", "2", "--tpot-ms", str(tpot_ms)]
        args += ["--faults", json.dumps(faults or {})]
        p = self._start(args, port)
        ident = stamp(p.pid)
        return Replica(pid=p.pid, port=port, started=ident.started, cmdline=ident.cmdline)

    def router(self, revisions: dict[str, Revision], *flags: str) -> str:
        port = free_port()
        path = self.tmp / f"router-{port}.json"
        reg = Registry(endpoint="chat", environment="test", revisions=revisions,
                       router=RouterProc(pid=0, port=port, token=self.token))  # fmt: skip
        write(path, reg)
        args = ["modelplane.runtime.local.router", "--registry", str(path), "--port", str(port), *flags]
        self._start(args, port)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.stop()


def _canary(stack: Stack, canary_faults: dict[str, Any] | None = None) -> str:
    """A router with stable r1 (two replicas) at 50% and canary r2 (two replicas) at 50%."""
    r1 = Revision(role="stable", weight=50, model=MODEL, replicas=[stack.replica("r1"), stack.replica("r1")])
    r2 = Revision(role="canary", weight=50, model=MODEL,
                  replicas=[stack.replica("r2", canary_faults, tpot_ms=5), stack.replica("r2", canary_faults, tpot_ms=5)])  # fmt: skip
    return stack.router({"r1": r1, "r2": r2})


async def _admin(url: str, stack: Stack, path: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=stack.auth) as s, s.get(url + path) as r:
        assert r.status == 200, await r.text()
        data: dict[str, Any] = await r.json()
        return data


def _assert_openai_error(body: Any) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    # the router's own errors are OpenAI's `invalid_request_error`; the simulator's are vLLM 0.33's `BadRequestError`
    assert body["error"]["message"] and body["error"]["type"] in ("invalid_request_error", "BadRequestError")


async def _burst(url: str, rounds: int) -> list[tuple[int, Any]]:
    """Every malformed request ``rounds`` times, 16 at a time."""
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:

        async def one(path: str, body: bytes) -> tuple[int, Any]:
            async with gate, s.post(url + path, data=body, headers={"content-type": "application/json"}) as r:
                return r.status, await r.json(content_type=None)

        return await asyncio.gather(*(one(p, b) for _ in range(rounds) for p, b in MALFORMED))


async def _abandon_streams(url: str, n: int) -> None:
    """Clients that read the first bytes of a streamed answer and hang up."""
    body = {"model": MODEL, "prompt": "tell me", "max_tokens": 200, "stream": True}
    for _ in range(n):
        async with aiohttp.ClientSession() as s:
            r = await s.post(url + "/v1/completions", json=body)
            assert r.status == 200
            await r.content.readany()
            r.close()  # drops the connection mid-stream


async def test_a_client_error_burst_leaves_replicas_healthy_and_the_canary_error_rate_at_zero(stack: Stack) -> None:
    url = _canary(stack)
    answers = await _burst(url, rounds=20)  # 280 malformed requests
    assert len(answers) == 20 * len(MALFORMED)
    for status, body in answers:
        assert 400 <= status < 500, (status, body)
        _assert_openai_error(body)
    await _abandon_streams(url, 6)
    # the replicas have seen only the abandoned streams, and still serve
    async with aiohttp.ClientSession() as s:
        for _ in range(20):
            async with s.post(url + "/v1/completions", json=GOOD) as r:
                assert r.status == 200, await r.text()
    state = await _admin(url, stack, "/admin/state")
    for revision, backends in state["revisions"].items():
        assert backends and all(b["healthy"] for b in backends), (revision, backends)
    stats = await _admin(url, stack, "/admin/stats?window=600")
    assert stats["r2"]["errors"] == 0 and stats["r2"]["error_rate"] == 0.0, stats
    assert stats["r1"]["errors"] == 0, stats
    assert stats["r1"]["requests"] + stats["r2"]["requests"] == 20 + 6  # the malformed ones reached no revision
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as r:
        metrics = await r.text()
    assert f'modelplane_router_client_errors_total{{code="400"}} {20 * len(MALFORMED)}' in metrics


async def test_the_simulator_answers_malformed_requests_with_4xx(stack: Stack) -> None:
    rep = stack.replica("r1")
    answers = await _burst(rep.url, rounds=2)
    for (path, raw), (status, body) in zip(MALFORMED * 2, answers, strict=True):
        if raw == json.dumps({"prompt": "hi"}).encode():
            assert status == 200  # as vLLM: no `model` means the one it serves (the router insists on one)
            continue
        assert 400 <= status < 500, (path, raw[:80], status, body)
        _assert_openai_error(body)


async def test_upstream_5xx_still_count_against_the_canary(stack: Stack) -> None:
    """The other side of the line: a failing canary is still seen failing (so the zero above means something)."""
    url = _canary(stack, canary_faults={"error_rate": 1.0})
    async with aiohttp.ClientSession() as s:
        for _ in range(40):
            async with s.post(url + "/v1/completions", json=GOOD) as r:
                await r.read()
    stats = await _admin(url, stack, "/admin/stats?window=600")
    assert stats["r2"]["errors"] > 0 and stats["r1"]["errors"] == 0, stats
    state = await _admin(url, stack, "/admin/state")
    assert not all(b["healthy"] for b in state["revisions"]["r2"])  # ejected after consecutive 5xx


async def test_an_admin_call_without_the_token_is_refused(stack: Stack) -> None:
    url = stack.router({"r1": Revision(role="stable", weight=100, replicas=[stack.replica("r1")])})
    registry = next(stack.tmp.glob("router-*.json"))
    assert registry.stat().st_mode & 0o777 == 0o600  # the token's home is this user's only
    async with aiohttp.ClientSession() as s:
        for method, path in [("POST", "/admin/weights"), ("GET", "/admin/state"), ("GET", "/admin/stats")]:
            async with s.request(method, url + path, json={"r1": 0}) as r:
                assert r.status == 401, (path, await r.text())
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                body = await r.json()
                _assert_openai_error(body)
                assert "admin token" in body["error"]["message"] and str(registry) in body["error"]["message"]
        wrong = {"Authorization": "Bearer " + "x" * len(stack.token)}
        async with s.post(url + "/admin/weights", json={"r1": 0}, headers=wrong) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "invalid_admin_token"
        state = await _admin(url, stack, "/admin/state")
        assert state["weights"] == {"r1": 100}  # neither call changed anything
        async with s.post(url + "/admin/weights", json={"r1": "lots"}, headers=stack.auth) as r:
            assert r.status == 400  # the owner's own mistake: a clear 400, weights untouched
            _assert_openai_error(await r.json())
        async with s.post(url + "/admin/weights", json={"r1": 70}, headers=stack.auth) as r:
            assert r.status == 200 and await r.json() == {"r1": 70}


def _read_all(sock: socket.socket, ceiling_s: float) -> bytes:
    """Everything until the router closes the connection (or the ceiling, which fails the caller's assert)."""
    sock.settimeout(ceiling_s)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return data + b"<not closed>"
        if not chunk:
            return data
        data += chunk


def test_a_slowloris_connection_is_closed_by_the_header_timeout(stack: Stack) -> None:
    url = stack.router(
        {"r1": Revision(role="stable", weight=100, replicas=[stack.replica("r1")])},
        "--header-timeout", "1", "--body-timeout", "1",
    )  # fmt: skip
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as slow, socket.create_connection(("127.0.0.1", port)) as mute:
        slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
        slow.settimeout(0.2)
        closed = False
        for i in range(150):  # one header byte every ~0.2 s, for at most ~30 s
            try:
                slow.sendall(b"X-Slow-%d: y\r\n" % i)
                got = slow.recv(4096)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            assert got.startswith(b"HTTP/1.1 408") or got == b"", got
            closed = True
            break
        assert closed, "the router kept a connection whose headers never ended"
        # a connection that never sends a byte goes the same way
        assert not _read_all(mute, 30).endswith(b"<not closed>")
    # a body that stalls after its headers: 408 with an error body, then closed
    with socket.create_connection(("127.0.0.1", port)) as stall:
        stall.sendall(b'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"model"')
        answer = _read_all(stall, 30)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    # and the router still serves
    with socket.create_connection(("127.0.0.1", port)) as ok:
        ok.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = _read_all(ok, 30)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b"modelplane_router_connections_timed_out_total" in answer


def test_an_oversized_body_sent_slowly_gets_one_413_on_a_connection_still_usable(stack: Stack) -> None:
    """The last MiB of a 17 MiB body comes after the header deadline: the router reads it all, answers one
    JSON 413, and the connection serves the next request. (Answering at 16 MiB with the rest unread, the
    connection guard read the rest as a new request's headers and wrote a second, unasked-for 408.)"""
    url = stack.router({"r1": Revision(role="stable", weight=100, replicas=[stack.replica("r1")])},
                       "--header-timeout", "1")  # fmt: skip
    size = 17 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as conn:
        head = f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
        conn.sendall(head.encode() + b"x" * (size - (1 << 19)))  # past the limit already
        time.sleep(2)  # past the header deadline
        conn.sendall(b"x" * (1 << 19))
        status = _get_on(conn, expect_413=True)
        assert status.startswith(b"HTTP/1.1 413"), status
        time.sleep(1.5)  # past the header deadline again: nothing of that body may count as a new request's start
        assert _get_on(conn).startswith(b"HTTP/1.1 200")  # no stray 408 before it, and not closed


def _get_on(sock: socket.socket, expect_413: bool = False) -> bytes:
    """One keep-alive GET /metrics on an open connection (``expect_413``: read the answer to the request already
    sent instead, checking it is JSON); returns the status line."""
    if not expect_413:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += sock.recv(65536)
    if expect_413:
        assert json.loads(rest[:length])["error"]["code"] == "request_entity_too_large", rest
    return head.split(b"\r\n", 1)[0]


def test_past_the_connection_cap_new_connections_get_503(stack: Stack) -> None:
    cap = 4
    url = stack.router(
        {"r1": Revision(role="stable", weight=100, replicas=[stack.replica("r1")])}, "--max-connections", str(cap)
    )
    port = int(url.rsplit(":", 1)[1])
    for _ in range(100):  # until the router has seen the start-up probe's connection close
        with socket.create_connection(("127.0.0.1", port)) as probe:
            probe.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if b"modelplane_router_open_connections 1\n" in _read_all(probe, 30):
                break
        time.sleep(0.05)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(cap)]
    try:
        for sock in held:
            assert _get_on(sock) == b"HTTP/1.1 200 OK"  # each one open and served: the router counts it
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as extra:
                extra.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = _read_all(extra, 30)
            assert answer.startswith(b"HTTP/1.1 503"), answer
            body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert body["error"]["code"] == "too_many_connections"
            assert f"limit of {cap} open connections" in body["error"]["message"]
        held.pop().close()  # one slot frees up: new connections are served again
        for _ in range(100):
            with socket.create_connection(("127.0.0.1", port)) as again:
                again.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = _read_all(again, 30)
            if answer.startswith(b"HTTP/1.1 200"):
                break
            time.sleep(0.05)  # the router has not seen the close yet
        assert answer.startswith(b"HTTP/1.1 200"), answer
        refused = next(x for x in answer.decode().splitlines() if x.startswith("modelplane_router_connections_refused"))
        assert int(refused.split()[1]) >= 3
    finally:
        for sock in held:
            sock.close()


def test_the_simulator_closes_a_connection_whose_headers_never_end(stack: Stack) -> None:
    """Issue 30: the simulator (every replica of the local stack) has a header deadline as the router does."""
    port = free_port()
    args = ["modelplane.runtime.local.simulator", "--port", str(port), "--served-model-name", MODEL]
    stack._start([*args, "--header-timeout", "1"], port)
    with socket.create_connection(("127.0.0.1", port)) as slow, socket.create_connection(("127.0.0.1", port)) as mute:
        slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: y\r\n")  # and never the blank line
        answer = _read_all(slow, 30)
        assert not answer.endswith(b"<not closed>"), answer
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
        assert not _read_all(mute, 30).endswith(b"<not closed>")  # one that never sends a byte goes the same way
    with socket.create_connection(("127.0.0.1", port)) as ok:  # and it still serves
        ok.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _read_all(ok, 30).startswith(b"HTTP/1.1 200")
