"""The local stand-in against the official ``openai`` client and Prometheus' own text parser.

Real simulator and router processes on loopback (as ``modelplane apply`` starts
them), driven the way a user's code would: sync and streamed completions and
chat, ``n``, ``stop``, ``echo``, ``logprobs``, ``stream_options.include_usage``,
vLLM's errors; every response and chunk is validated against the client's own
pydantic types (the client itself only *constructs* them, unvalidated). The
time-to-first-token check compares the client's clock with the latency model's
prediction (prefill 250 ms, nothing queued): before streaming was paced, the
first chunk came after the whole generation.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from prometheus_client.parser import text_string_to_metric_families

from modelplane.runtime.local.registry import Registry, Replica, Revision, RouterProc, new_token, write
from modelplane.runtime.procs import free_port, port_open, stamp

pytestmark = pytest.mark.integration

MODEL = "chat"
TTFT_MS = 250.0
TPOT_MS = 20.0
MAX_MODEL_LEN = 256
HEADER_TIMEOUT_S = 1.0
VLLM_FAMILIES = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:num_preemptions",
    "vllm:request_success",
    "vllm:prompt_tokens",
    "vllm:generation_tokens",
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:request_queue_time_seconds",
}


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        port = free_port()
        self.replica = f"http://127.0.0.1:{port}"
        args = ["modelplane.runtime.local.simulator", "--port", str(port), "--served-model-name", MODEL,
                "--ttft-ms", str(TTFT_MS), "--tpot-ms", str(TPOT_MS), "--max-model-len", str(MAX_MODEL_LEN),
                "--header-timeout", str(HEADER_TIMEOUT_S)]  # fmt: skip
        pid = self._start(args, port)
        ident = stamp(pid)
        rep = Replica(pid=pid, port=port, started=ident.started, cmdline=ident.cmdline)
        rport = free_port()
        reg = Registry(endpoint=MODEL, environment="test",
                       revisions={"r1": Revision(role="stable", weight=100, model=MODEL, replicas=[rep])},
                       router=RouterProc(pid=0, port=rport, token=new_token()))  # fmt: skip
        write(tmp / "router.json", reg)
        self._start(
            ["modelplane.runtime.local.router", "--registry", str(tmp / "router.json"), "--port", str(rport)], rport
        )
        self.router = f"http://127.0.0.1:{rport}"

    def _start(self, args: list[str], port: int) -> int:
        p = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        deadline = time.monotonic() + 90  # a ceiling for a loaded machine, not a timing assertion
        while not port_open(f"127.0.0.1:{port}"):
            assert p.poll() is None and time.monotonic() < deadline, f"{args[0]} did not start"
            time.sleep(0.05)
        return p.pid

    def client(self, base: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=(base or self.router) + "/v1", api_key="unused", max_retries=0, timeout=30)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("conformance"))
    try:
        # the router joins a replica after its first health check: wait until a request gets through
        deadline = time.monotonic() + 60
        while True:
            try:
                s.client().completions.create(model=MODEL, prompt="warm", max_tokens=1)
                break
            except openai.APIError:
                assert time.monotonic() < deadline, "the router never served a request"
                time.sleep(0.2)
        yield s
    finally:
        s.stop()


def test_completions_n_stop_echo_logprobs(stack: Stack) -> None:
    client = stack.client()
    r = client.completions.create(
        model=MODEL, prompt="hello there", max_tokens=8, n=2, echo=True, logprobs=3, stop=" tok3"
    )
    Completion.model_validate(r.to_dict())
    assert r.object == "text_completion" and len(r.choices) == 2 and [c.index for c in r.choices] == [0, 1]
    for c in r.choices:
        assert c.text == "hello there tok0 tok1 tok2"  # echoed prompt, then the answer cut before the stop string
        assert c.finish_reason == "stop" and (c.model_extra or {}).get("stop_reason") == " tok3"
        lp = c.logprobs
        assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs and lp.text_offset
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
        assert lp.tokens[:2] == ["hello", " there"] and all(v <= 0 for v in lp.token_logprobs)
        assert [len(t) for t in lp.top_logprobs[2:]] == [3, 3, 3, 3]  # each generated token: its top 3
    assert r.usage is not None and r.usage.prompt_tokens == 2 and r.usage.completion_tokens == 2 * 4
    plain = client.completions.create(model=MODEL, prompt="hello", max_tokens=3)
    assert plain.choices[0].text == " tok0 tok1 tok2" and plain.choices[0].finish_reason == "length"
    assert plain.choices[0].logprobs is None


def test_chat_n_logprobs_and_simulator_marks(stack: Stack) -> None:
    client = stack.client()
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi there"}],
        max_tokens=5,
        n=3,
        logprobs=True,
        top_logprobs=2,
    )
    assert raw.headers["x-modelplane-engine"] == "modelplane-vllm-simulator"  # says what it is
    r = raw.parse()
    ChatCompletion.model_validate(r.to_dict())
    assert r.system_fingerprint and "simulator" in r.system_fingerprint
    assert len(r.choices) == 3
    for c in r.choices:
        assert c.message.role == "assistant" and c.message.content == " tok0 tok1 tok2 tok3 tok4"
        assert c.finish_reason == "length"
        assert c.logprobs is not None and c.logprobs.content is not None and len(c.logprobs.content) == 5
        assert all(len(t.top_logprobs) == 2 and t.bytes == list(t.token.encode()) for t in c.logprobs.content)
    assert r.usage is not None and r.usage.completion_tokens == 15 and r.usage.prompt_tokens == 2
    eos = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert eos.choices[0].finish_reason == "stop"  # no max_tokens: the EOS stand-in, not "length"
    (card,) = client.models.list().data
    assert card.id == MODEL and "simulator" in card.owned_by
    with urllib.request.urlopen(stack.replica + "/version") as v:
        assert "simulator" in json.loads(v.read())["version"]


def test_streams_chunk_by_chunk_with_role_finish_and_usage(stack: Stack) -> None:
    client = stack.client()
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4, n=2, stream=True,
            stream_options={"include_usage": True}, logprobs=True, top_logprobs=1,
        )
    )  # fmt: skip
    for ch in chunks:
        ChatCompletionChunk.model_validate(ch.to_dict())
    assert [ch.choices[0].delta.role for ch in chunks[:2]] == ["assistant", "assistant"]  # the role delta first
    assert {ch.choices[0].index for ch in chunks[:2]} == {0, 1}
    *body, last = chunks
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 8
    for i in (0, 1):
        mine = [ch.choices[0] for ch in body if ch.choices[0].index == i]
        assert "".join(c.delta.content or "" for c in mine) == " tok0 tok1 tok2 tok3"
        assert [c.finish_reason for c in mine][-1] == "length" and all(c.finish_reason is None for c in mine[:-1])
        assert sum(len(c.logprobs.content or []) for c in mine if c.logprobs) == 4
    texts = list(client.completions.create(model=MODEL, prompt="a b", max_tokens=10, stop=["tok2"], stream=True))
    for t in texts:
        doc = t.to_dict()
        # the client's Completion type (reused for legacy stream chunks) has no null finish_reason, which
        # mid-stream chunks carry from OpenAI's API as from vLLM: every other field is validated
        doc["choices"] = [{**c, "finish_reason": c.get("finish_reason") or "length"} for c in doc["choices"]]
        Completion.model_validate(doc)
    assert "".join(t.choices[0].text for t in texts) == " tok0 tok1 "
    assert texts[-1].choices[0].finish_reason == "stop" and texts[-1].usage is None  # no include_usage: no usage


def test_time_to_first_token_is_the_prefill_and_tokens_arrive_as_generated(stack: Stack) -> None:
    client = stack.client()
    tokens = 20
    firsts, spans = [], []
    for _ in range(5):
        start = time.monotonic()
        arrivals = []
        for ch in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=tokens, stream=True
        ):
            if ch.choices and ch.choices[0].delta.content:
                arrivals.append(time.monotonic() - start)
        firsts.append(arrivals[0])
        spans.append(arrivals[-1] - arrivals[0])
    ttft = statistics.median(firsts)
    print(f"client TTFT median {ttft * 1000:.0f} ms (model {TTFT_MS:.0f} ms); decode spans {spans}")
    assert abs(ttft * 1000 - TTFT_MS) <= 0.3 * TTFT_MS, firsts
    # the chunks are spread over the decode steps, not sent together after the generation
    assert statistics.median(spans) >= 0.7 * (tokens - 1) * TPOT_MS / 1000, spans


def test_vllm_errors_reach_the_client_as_its_exceptions(stack: Stack) -> None:
    client = stack.client()
    with pytest.raises(openai.BadRequestError) as long_prompt:
        client.completions.create(model=MODEL, prompt="w " * 300, max_tokens=4)
    body = long_prompt.value.body
    assert isinstance(body, dict) and body["type"] == "BadRequestError" and body["code"] == 400
    assert "maximum context length is 256 tokens" in long_prompt.value.message
    assert "your prompt contains 300 input tokens" in long_prompt.value.message
    with pytest.raises(openai.BadRequestError) as too_many:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=300)
    assert "you requested 300 output tokens" in too_many.value.message
    with pytest.raises(openai.BadRequestError, match="only be defined when `stream=True`"):
        client.completions.create(model=MODEL, prompt="x", stream_options={"include_usage": True})
    with pytest.raises(openai.NotFoundError, match="`other` does not exist"):
        stack.client(stack.replica).completions.create(model="other", prompt="x")


def test_an_oversized_body_gets_a_json_413_and_the_connection_stays_usable(stack: Stack) -> None:
    """17 MiB through the router and straight to a replica: both read the body to its end before answering
    (an answer on a half-read body reset the connection, or left the client writing into a server that had
    stopped reading), so the client gets the 413 as its exception, and its next request works."""
    prompt = "x" * (17 * 1024 * 1024)
    for base, source in ((stack.router, "router"), (stack.replica, "replica")):
        client = stack.client(base)
        with pytest.raises(openai.APIStatusError) as too_big:
            client.completions.create(model=MODEL, prompt=prompt, max_tokens=1)
        assert too_big.value.status_code == 413, source
        assert too_big.value.response.headers["content-type"].startswith("application/json"), source
        body = too_big.value.body
        assert isinstance(body, dict) and "over" in body["message"] and "16777216 bytes" in body["message"], body
        if source == "router":  # OpenAI's shape; the replica answers as vLLM would (code = the status)
            assert body["code"] == "request_entity_too_large"
        else:
            assert body["code"] == 413 and body["type"] == "Request Entity Too Large"
        done = client.completions.create(model=MODEL, prompt="after", max_tokens=1)  # the same client, pooled
        Completion.model_validate(done.model_dump())


def test_replica_and_router_metrics_parse_with_prometheus_parser(stack: Stack) -> None:
    stack.client().completions.create(model=MODEL, prompt="x", max_tokens=2, stop="tok1")  # one of each finish
    stack.client().completions.create(model=MODEL, prompt="x", max_tokens=2)
    with urllib.request.urlopen(stack.replica + "/metrics") as r:
        replica = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    assert set(replica) >= VLLM_FAMILIES, VLLM_FAMILIES - set(replica)
    assert all(f.documentation for f in replica.values())  # a HELP line for every family
    success = {s.labels["finished_reason"]: s.value for s in replica["vllm:request_success"].samples}
    assert success["length"] > 0 and success["stop"] > 0
    ttft = replica["vllm:time_to_first_token_seconds"].samples
    assert {s.labels["model_name"] for s in ttft} == {MODEL} and any(
        s.name.endswith("_count") and s.value for s in ttft
    )
    assert "simulator" in str(replica["modelplane_simulator_info"].samples[0].labels)
    with urllib.request.urlopen(stack.router + "/metrics") as r:
        router = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    assert sum(s.value for s in router["modelplane_router_requests"].samples) > 0


def test_the_replica_drops_a_client_that_never_finishes_its_headers(stack: Stack) -> None:
    port = int(stack.replica.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        start = time.monotonic()
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
        assert time.monotonic() - start < 20  # closed by the deadline, not held open (a ceiling, not a timing)
    assert answer.startswith(b"HTTP/1.1 408")
