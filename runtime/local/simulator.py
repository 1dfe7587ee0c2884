"""A vLLM-compatible *simulator*: the local stack's engine where vLLM or a GPU is missing.

It speaks ``vllm serve``'s (0.33.0) OpenAI-compatible API as far as clients use it:
completions and chat completions, sync and streamed (the role delta first,
``finish_reason`` / ``stop_reason``, ``stream_options.include_usage`` and
``continuous_usage_stats``), ``n``, batched prompts, ``echo``, ``logprobs`` /
``top_logprobs`` (made up, of the right shape), ``stop`` strings (the text cut
before them, held back while streaming as vLLM does), vLLM's 400s for a prompt or
``max_tokens`` over ``max_model_len`` with vLLM's error body, JSON 413s; and
``/v1/models``, ``/health``, ``/load``, ``/version``, ``/metrics`` (vLLM's
families, ``engine_metrics``). Detail and what it does not imitate:
docs/serving.md.

It says it is a simulator wherever a user looks: the model's ``owned_by``, the
``x-modelplane-engine`` header on every response, ``system_fingerprint``,
``/version``, a ``modelplane_simulator_info`` metric and the log; its text is
``" tok0 tok1 ..."``.

Latency model: a request waits for one of ``max_num_seqs`` slots (queue time,
``vllm:num_requests_waiting``), then prefill takes ``ttft_ms`` (x the latency
multiplier, + added latency) and yields the first token; each further token is
one decode step of ``tpot_ms`` that grows a little with the batch (continuous
batching). A stream sends each step's chunk when the step ends (paced against
absolute deadlines, so scheduler jitter does not accumulate); a non-streamed
answer sleeps the same total once. Fault injection (error rate, added latency,
a latency multiplier, a crash after N requests) comes from the revision's spec.

Connections go through ``conn_guard`` (a cap, a header deadline against slowloris,
an idle deadline) and a body must arrive within ``BODY_TIMEOUT_S``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from modelplane.runtime.local import completion_shapes as shapes
from modelplane.runtime.local.conn_guard import ConnectionGuard
from modelplane.runtime.local.engine_metrics import EngineMetrics
from modelplane.runtime.local.openai_api import (
    MAX_BODY,
    ClientError,
    parse_completion,
    read_limited,
    vllm_error_response,
)

ENGINE = "modelplane-vllm-simulator"
IMITATES = "0.33.0"
MAX_CONNECTIONS = 4096
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
IDLE_TIMEOUT_S = 30.0


@dataclass
class Faults:
    error_rate: float = 0.0
    added_latency_ms: float = 0.0
    latency_multiplier: float = 1.0
    crash_after_requests: int | None = None


@dataclass(eq=False)
class Run:
    """One admitted request's clock: prefill, then decode steps; what it records when it ends."""

    engine: Engine
    plan: shapes.Plan
    arrived: float
    admitted: float = 0.0
    first: float = 0.0
    last: float = 0.0
    deadline: float = 0.0
    reason: str = "abort"
    """How it finished (vLLM's ``finished_reason``); stays ``abort`` if the client left first."""
    generated: int = 0

    async def first_token(self) -> None:
        """Prefill: the first token comes out of it."""
        await asyncio.sleep(self.engine.prefill_s())
        self.first = self.last = self.deadline = time.monotonic()
        self.engine.metrics.hist["time_to_first_token_seconds"].observe(self.first - self.arrived)

    async def next_token(self) -> None:
        """One decode step, paced against an absolute deadline (a late wake-up is not carried into the next)."""
        self.deadline += self.engine.step_s()
        await asyncio.sleep(max(0.0, self.deadline - time.monotonic()))
        now = time.monotonic()
        self.engine.metrics.hist["inter_token_latency_seconds"].observe(now - self.last)
        self.last = now

    async def decode(self, steps: int) -> None:
        """``steps`` decode steps at once (a non-streamed answer: nobody sees the tokens in between)."""
        if steps <= 0:
            return
        step = self.engine.step_s()
        await asyncio.sleep(step * steps)
        self.engine.metrics.hist["inter_token_latency_seconds"].observe(step, steps)
        self.last = time.monotonic()

    def done(self, choices: list[shapes.Choice]) -> None:
        self.reason = choices[0].finish or "abort"
        self.generated = sum(c.generated for c in choices)

    def record(self) -> None:
        m, end = self.engine.metrics, time.monotonic()
        m.success[self.reason] += 1
        m.prompt_tokens += self.plan.total_prompt_tokens
        m.generation_tokens += self.generated
        h = m.hist
        h["e2e_request_latency_seconds"].observe(end - self.arrived)
        h["request_queue_time_seconds"].observe(self.admitted - self.arrived)
        h["request_inference_time_seconds"].observe(end - self.admitted)
        if self.first:
            h["request_prefill_time_seconds"].observe(self.first - self.admitted)
            h["request_decode_time_seconds"].observe(end - self.first)
            if self.generated > 1:
                h["request_time_per_output_token_seconds"].observe((end - self.first) / (self.generated - 1))
        h["request_prompt_tokens"].observe(self.plan.total_prompt_tokens)
        h["request_generation_tokens"].observe(self.generated)


@dataclass(eq=False)
class Engine:
    model: str
    revision: str
    max_num_seqs: int
    ttft_ms: float
    tpot_ms: float
    max_model_len: int
    buckets: list[float]
    faults: Faults
    root: str = ""
    """What it stands in for loading (vLLM's ``MODEL`` argument: a trained artifact's folder); the name else."""
    artifact: str = ""
    """The digest of those weights (a retrain's artifact), shown in ``/v1/models``."""
    served: int = 0
    errors: int = 0
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.max_num_seqs)
        self.metrics = EngineMetrics(self.model, self.buckets, self.max_model_len)

    def prefill_s(self) -> float:
        return (self.ttft_ms * self.faults.latency_multiplier + self.faults.added_latency_ms) / 1000

    def step_s(self) -> float:
        batch_penalty = 1.0 + 0.5 * self.metrics.running / self.max_num_seqs
        return self.tpot_ms * self.faults.latency_multiplier * batch_penalty / 1000

    @asynccontextmanager
    async def admitted(self, plan: shapes.Plan) -> AsyncIterator[Run]:
        """Wait for a slot (counted as waiting), run (counted as running), record the request when it ends."""
        self.served += 1
        if self.faults.crash_after_requests is not None and self.served > self.faults.crash_after_requests:
            print(f"{ENGINE}: injected crash after {self.faults.crash_after_requests} requests", flush=True)
            os._exit(1)
        m = self.metrics
        run = Run(self, plan, arrived=time.monotonic())
        m.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            m.waiting -= 1
        run.admitted = time.monotonic()
        m.running += 1
        m.kv_usage = m.running / self.max_num_seqs
        try:
            yield run
        finally:
            m.running -= 1
            m.kv_usage = m.running / self.max_num_seqs
            self.slots.release()
            run.record()


def _sse(doc: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(doc, separators=(',', ':'))}\n\n".encode()


def _echoed(plan: shapes.Plan, body: dict[str, Any], prompt: int) -> str:
    """What ``echo`` puts before the answer: the prompt (completions), or the last message when it is the
    assistant's own (chat: vLLM continues that message)."""
    if not plan.echo:
        return ""
    if not plan.chat:
        return plan.prompts[prompt]
    last = body["messages"][-1]
    return str(last.get("content") or "") if last.get("role") == "assistant" else ""


class Answer:
    """One request's response: the choices being generated and how their bodies and chunks look."""

    def __init__(self, engine: Engine, plan: shapes.Plan, body: dict[str, Any]) -> None:
        self.engine, self.plan, self.body = engine, plan, body
        self.choices = [shapes.Choice(i, plan.stop) for i in range(plan.sequences)]
        self.rid = f"{'chatcmpl' if plan.chat else 'cmpl'}-sim-{engine.served}-{random.getrandbits(32):08x}"
        self.created = int(time.time())

    def prompt_of(self, c: shapes.Choice) -> int:
        return c.index // self.plan.n

    def head(self, chunk: bool) -> dict[str, Any]:
        kind = ("chat.completion.chunk" if chunk else "chat.completion") if self.plan.chat else "text_completion"
        return {
            "id": self.rid,
            "object": kind,
            "created": self.created,
            "model": self.engine.model,
            "system_fingerprint": f"{ENGINE}/{self.engine.revision}",
        }

    def logprobs(self, c: shapes.Choice, tokens: list[tuple[int, str]], offset: int, echo: str | None) -> Any:
        k = self.plan.logprobs
        if k is None:
            return None
        if self.plan.chat:
            return shapes.chat_logprobs(tokens, c.index, k)
        return shapes.completion_logprobs(tokens, c.index, k, offset, echo)

    def full(self) -> dict[str, Any]:
        out = []
        for c in self.choices:
            echo = _echoed(self.plan, self.body, self.prompt_of(c))
            lp = self.logprobs(c, c.take_tokens(), 0, echo if self.plan.echo and not self.plan.chat else None)
            choice: dict[str, Any] = {
                "index": c.index,
                "logprobs": lp,
                "finish_reason": c.finish,
                "stop_reason": c.stop_reason,
            }
            if self.plan.chat:
                choice["message"] = {"role": "assistant", "content": echo + c.text, "tool_calls": []}
            else:
                choice |= {"text": echo + c.text, "prompt_logprobs": None}
            out.append(choice)
        return {**self.head(False), "choices": out, "usage": shapes.usage(self.plan, self.choices)}

    def role_chunks(self) -> list[bytes]:
        """Chat streams open with the role for every choice, then (with echo) the continued message."""
        out = []
        for c in self.choices:
            delta = {"role": "assistant", "content": ""}
            out.append(self.chunk({"index": c.index, "delta": delta, "logprobs": None, "finish_reason": None}))
            if echo := _echoed(self.plan, self.body, 0):
                out.append(
                    self.chunk({"index": c.index, "delta": {"content": echo}, "logprobs": None, "finish_reason": None})
                )
        return out

    def chunk(self, choice: dict[str, Any]) -> bytes:
        doc = {**self.head(True), "choices": [choice]}
        if self.plan.continuous_usage:
            doc["usage"] = shapes.usage(self.plan, self.choices)
        return _sse(doc)

    def step_chunks(self) -> list[bytes]:
        """The chunks one decode step produces: a choice's new text (with its tokens' logprobs) and its finish."""
        out = []
        for c in self.choices:
            offset = c.sent
            text = c.ready()
            finishing = c.finish is not None and not c.closed
            if not text and not finishing:
                continue  # held back (it may start a stop string): nothing to send this step
            echo = "" if c.opened or self.plan.chat else _echoed(self.plan, self.body, self.prompt_of(c))
            c.opened = True
            lp = self.logprobs(c, c.take_tokens(), offset, echo if self.plan.echo else None)
            choice: dict[str, Any] = {"index": c.index, "logprobs": lp, "finish_reason": c.finish}
            if c.finish is not None:
                choice["stop_reason"] = c.stop_reason
                c.closed = True
            if self.plan.chat:
                choice["delta"] = {"content": text}
            else:
                choice["text"] = echo + text
            out.append(self.chunk(choice))
        return out

    def usage_chunk(self) -> bytes:
        return _sse({**self.head(True), "choices": [], "usage": shapes.usage(self.plan, self.choices)})

    def step(self) -> bool:
        """Generate one token on every unfinished choice; True when all have finished."""
        for c in self.choices:
            c.step(self.plan)
        return all(c.finish is not None for c in self.choices)


async def _streamed(request: web.Request, engine: Engine, answer: Answer) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
    await resp.prepare(request)
    try:
        async with engine.admitted(answer.plan) as run:
            await run.first_token()
            first = True
            while True:
                finished = answer.step()
                chunks = (answer.role_chunks() if first and answer.plan.chat else []) + answer.step_chunks()
                for chunk in chunks:  # each step's chunks go out as the step ends: TTFT is the prefill's
                    await resp.write(chunk)
                first = False
                if finished:
                    break
                await run.next_token()
            run.done(answer.choices)
        if answer.plan.include_usage:
            await resp.write(answer.usage_chunk())
        await resp.write(b"data: [DONE]\n\n")
    except ConnectionError:  # the client left: the request is aborted (vLLM's finished_reason "abort")
        return resp
    return resp


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(engine: Engine, guard: Callable[[], ConnectionGuard | None] = lambda: None) -> web.Application:
    headers = {"x-modelplane-engine": ENGINE, "x-modelplane-revision": engine.revision}

    async def complete(request: web.Request, chat: bool) -> web.StreamResponse:
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                raw, size = await read_limited(request, MAX_BODY)
        except TimeoutError:
            resp = vllm_error_response(408, f"the request body was not received within {BODY_TIMEOUT_S:g} s")
            resp.force_close()
            return resp
        if raw is None:
            return vllm_error_response(
                413, f"the request body is {size} bytes, over this server's limit of {MAX_BODY} bytes: send less"
            )
        try:
            # as vLLM: a malformed request is a 400, never a 500; `model` may be left out (the served one)
            body = parse_completion(raw, chat, require_model=False)
            if body.get("model") not in (None, engine.model):
                return vllm_error_response(
                    404, f"The model `{body.get('model')}` does not exist (this replica serves `{engine.model}`)."
                )
            if engine.faults.error_rate and random.random() < engine.faults.error_rate:
                engine.errors += 1
                return vllm_error_response(500, "injected failure (simulator fault injection)")
            plan = shapes.plan(body, chat, engine.max_model_len)
        except ClientError as exc:
            return vllm_error_response(exc.status, exc.message, exc.param)
        answer = Answer(engine, plan, body)
        if plan.stream:
            return await _streamed(request, engine, answer)
        async with engine.admitted(plan) as run:
            await run.first_token()
            steps = 0
            while not answer.step():
                steps += 1
            await run.decode(steps)
            run.done(answer.choices)
        return web.json_response(answer.full())

    async def completions(request: web.Request) -> web.StreamResponse:
        return await complete(request, chat=False)

    async def chat(request: web.Request) -> web.StreamResponse:
        return await complete(request, chat=True)

    async def models(_: web.Request) -> web.Response:
        card = {
            "id": engine.model,
            "object": "model",
            "created": int(engine.started),
            "owned_by": f"{ENGINE} (not a real vLLM)",
            "root": engine.root or engine.model,
            "parent": None,
            "max_model_len": engine.max_model_len,
        }
        if engine.artifact:  # not a vLLM field: which trained weights this replica stands in for
            card["artifact"] = engine.artifact
        return web.json_response({"object": "list", "data": [card]})

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="")

    async def load(_: web.Request) -> web.Response:
        return web.json_response({"server_load": engine.metrics.running + engine.metrics.waiting})

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"version": f"{IMITATES}+modelplane.simulator", "engine": ENGINE, "simulator": True})

    async def metrics(_: web.Request) -> web.Response:
        text = engine.metrics.render({"revision": engine.revision, "simulator": ENGINE, "imitates": f"vllm {IMITATES}"})
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        g = guard()
        if g is not None:  # the headers are in: the header deadline no longer applies to this connection
            g.request_started(request.transport)
        try:
            return await handler(request)
        except web.HTTPException as exc:  # 404/405 and 413 (a body over MAX_BODY): vLLM's JSON, not text/plain
            if exc.status < 400:
                raise
            return vllm_error_response(exc.status, exc.text or exc.reason)
        finally:
            if g is not None:
                g.request_finished(request.transport)

    async def mark(_: web.Request, resp: web.StreamResponse) -> None:
        resp.headers.update(headers)  # every response, errors and streams too, says which engine answered

    app = web.Application(middlewares=[guarded])  # the body limit is read_limited's
    app.on_response_prepare.append(mark)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/load", load)
    app.router.add_get("/version", version)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(engine: Engine, port: int, header_timeout: float = HEADER_TIMEOUT_S) -> None:
    """Serve until SIGTERM/SIGINT through the connection guard (aiohttp's server has no header deadline)."""
    box: list[ConnectionGuard] = []
    runner = web.AppRunner(
        make_app(engine, lambda: box[0] if box else None), access_log=None, keepalive_timeout=IDLE_TIMEOUT_S
    )
    await runner.setup()
    assert runner.server is not None
    refused = {
        "error": {
            "message": f"{ENGINE} on port {port} is at its limit of {MAX_CONNECTIONS} open connections; retry shortly",
            "type": "Service Unavailable",
            "param": None,
            "code": 503,
        }
    }
    box.append(ConnectionGuard(runner.server, MAX_CONNECTIONS, header_timeout, IDLE_TIMEOUT_S, refused))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(box[0].protocol, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"{ENGINE} (a simulator, not vLLM) serving {engine.model} revision {engine.revision} on 127.0.0.1:{port}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="modelplane's vLLM-compatible simulator (not a real vLLM)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--served-model-name", required=True)
    ap.add_argument("--revision", default="r0")
    ap.add_argument("--max-num-seqs", type=int, default=256)
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--ttft-ms", type=float, default=20.0)
    ap.add_argument("--tpot-ms", type=float, default=2.0)
    ap.add_argument("--histogram-buckets", default="[0.05,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.5,2.0,5.0]")
    ap.add_argument("--faults", default="{}", help="JSON: error_rate, added_latency_ms, latency_multiplier, ...")
    ap.add_argument("--header-timeout", type=float, default=HEADER_TIMEOUT_S, help="seconds to send the headers")
    ap.add_argument("--model", default="", help="what it stands in for loading (a trained artifact's folder)")
    ap.add_argument("--artifact", default="", help="that artifact's digest, shown in /v1/models")
    args = ap.parse_args(argv)
    engine = Engine(
        args.served_model_name,
        args.revision,
        args.max_num_seqs,
        args.ttft_ms,
        args.tpot_ms,
        args.max_model_len,
        json.loads(args.histogram_buckets),
        Faults(**json.loads(args.faults)),
        root=args.model,
        artifact=args.artifact,
    )
    asyncio.run(serve(engine, args.port, args.header_timeout))


if __name__ == "__main__":
    main()
