"""A vLLM-compatible *simulator*: the local stack's engine where vLLM or a GPU is missing.

It speaks the same HTTP API as ``vllm serve`` (OpenAI completions and chat
completions, streaming too, ``/v1/models``, ``/health``, ``/load``,
``/metrics`` with vLLM's metric names), and says it is a simulator wherever a
user looks: the model's ``owned_by``, a ``x-modelplane-engine`` header, the
``system_fingerprint`` of every response and the log.

Latency model: time to first token, then a per-token decode time that grows a
little with the batch (continuous batching); at most ``max_num_seqs`` requests
run at once, the rest wait (``vllm:num_requests_waiting``). Fault injection
(error rate, added latency, a latency multiplier, a crash after N requests)
comes from the revision's spec, for tests and demos.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from modelplane.runtime.local.openai_api import ClientError, client_error_response, error_response, parse_completion

ENGINE = "modelplane-vllm-simulator"


@dataclass
class Faults:
    error_rate: float = 0.0
    added_latency_ms: float = 0.0
    latency_multiplier: float = 1.0
    crash_after_requests: int | None = None


@dataclass
class Histogram:
    buckets: list[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, v: float) -> None:
        self.total += v
        self.n += 1
        for i, b in enumerate(self.buckets):
            if v <= b:
                self.counts[i] += 1

    def render(self, name: str, labels: str) -> list[str]:
        out = [f'{name}_bucket{{{labels},le="{b}"}} {c}' for b, c in zip(self.buckets, self.counts, strict=True)]
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {self.n}')
        out += [f"{name}_sum{{{labels}}} {self.total}", f"{name}_count{{{labels}}} {self.n}"]
        return out


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
    # What it has done, for /metrics and /load:
    running: int = 0
    waiting: int = 0
    served: int = 0
    success: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.max_num_seqs)
        self.e2e = Histogram(self.buckets)
        self.ttft = Histogram(self.buckets)

    def labels(self) -> str:
        return f'model_name="{self.model}",engine="0"'

    async def generate(self, prompt_tokens: int, max_tokens: int) -> tuple[float, int]:
        """Wait for a slot, then 'run': returns (time to first token, tokens generated)."""
        self.served += 1
        if self.faults.crash_after_requests is not None and self.served > self.faults.crash_after_requests:
            print(f"{ENGINE}: injected crash after {self.faults.crash_after_requests} requests", flush=True)
            os._exit(1)
        t0 = time.monotonic()
        self.waiting += 1
        async with self.slots:
            self.waiting -= 1
            self.running += 1
            queued = time.monotonic() - t0
            try:
                scale = self.faults.latency_multiplier
                batch_penalty = 1.0 + 0.5 * self.running / self.max_num_seqs
                ttft = (self.ttft_ms * scale + self.faults.added_latency_ms) / 1000
                await asyncio.sleep(ttft)
                tokens = max(1, min(max_tokens, self.max_model_len - prompt_tokens))
                await asyncio.sleep(tokens * self.tpot_ms * scale * batch_penalty / 1000)
            finally:
                self.running -= 1
        self.prompt_tokens += prompt_tokens
        self.generation_tokens += tokens
        self.ttft.observe(queued + ttft)
        self.e2e.observe(time.monotonic() - t0)
        return ttft, tokens

    def metrics(self) -> str:
        lb = self.labels()
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{lb}}} {self.running}",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{lb}}} {self.waiting}",
            "# TYPE vllm:kv_cache_usage_perc gauge",
            f"vllm:kv_cache_usage_perc{{{lb}}} {self.running / self.max_num_seqs:.4f}",
            "# TYPE vllm:request_success_total counter",
            f'vllm:request_success_total{{{lb},finished_reason="length"}} {self.success}',
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{lb}}} {self.prompt_tokens}",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{lb}}} {self.generation_tokens}",
            "# TYPE vllm:e2e_request_latency_seconds histogram",
            *self.e2e.render("vllm:e2e_request_latency_seconds", lb),
            "# TYPE vllm:time_to_first_token_seconds histogram",
            *self.ttft.render("vllm:time_to_first_token_seconds", lb),
            "# TYPE modelplane_simulator_info gauge",
            f'modelplane_simulator_info{{{lb},revision="{self.revision}",engine="{ENGINE}"}} 1',
        ]
        return "\n".join(lines) + "\n"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _prompt_of(body: dict[str, Any], chat: bool) -> str:
    if chat:
        return " ".join(str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict))
    prompt = body.get("prompt", "")
    return " ".join(str(p) for p in prompt) if isinstance(prompt, list) else str(prompt)  # list: texts or token ids


def make_app(engine: Engine) -> web.Application:
    headers = {"x-modelplane-engine": ENGINE, "x-modelplane-revision": engine.revision}

    async def complete(request: web.Request, chat: bool) -> web.StreamResponse:
        try:
            # as vLLM: a malformed request is a 400, never a 500; `model` may be left out (the served one)
            body = parse_completion(await request.read(), chat, require_model=False)
        except ClientError as exc:
            return client_error_response(exc, headers)
        if body.get("model") not in (None, engine.model):
            return error_response(
                404,
                f"model `{body.get('model')}` does not exist; this serves `{engine.model}`",
                "model",
                "model_not_found",
                headers,
            )
        if engine.faults.error_rate and random.random() < engine.faults.error_rate:
            engine.errors += 1
            return error_response(500, "injected failure (simulator fault injection)", headers=headers)
        prompt_tokens = _tokens(_prompt_of(body, chat))
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 16
        created = int(time.time())
        rid = f"{'chatcmpl' if chat else 'cmpl'}-sim-{engine.served}"
        if body.get("stream"):
            resp = web.StreamResponse(headers={**headers, "content-type": "text/event-stream"})
            await resp.prepare(request)
            _, tokens = await engine.generate(prompt_tokens, max_tokens)
            for i in range(tokens):
                delta = {"delta": {"content": f" tok{i}"}} if chat else {"text": f" tok{i}"}
                chunk = {
                    "id": rid,
                    "object": "chat.completion.chunk" if chat else "text_completion",
                    "created": created,
                    "model": engine.model,
                    "choices": [{"index": 0, **delta, "finish_reason": None}],
                }
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            engine.success += 1
            return resp
        _, tokens = await engine.generate(prompt_tokens, max_tokens)
        text = " ".join(f"tok{i}" for i in range(tokens))
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
            if chat
            else {"index": 0, "text": text, "finish_reason": "length"}
        )
        engine.success += 1
        return web.json_response(
            {
                "id": rid,
                "object": "chat.completion" if chat else "text_completion",
                "created": created,
                "model": engine.model,
                "system_fingerprint": f"{ENGINE}/{engine.revision}",
                "choices": [choice],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": tokens,
                    "total_tokens": prompt_tokens + tokens,
                },
            },
            headers=headers,
        )

    async def completions(request: web.Request) -> web.StreamResponse:
        return await complete(request, chat=False)

    async def chat(request: web.Request) -> web.StreamResponse:
        return await complete(request, chat=True)

    async def models(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": engine.model,
                        "object": "model",
                        "created": int(engine.started),
                        "owned_by": f"{ENGINE} (not a real vLLM)",
                        "root": engine.model,
                        "max_model_len": engine.max_model_len,
                    }
                ],
            },
            headers=headers,
        )

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="", headers=headers)

    async def load(_: web.Request) -> web.Response:
        return web.json_response({"server_load": engine.running + engine.waiting}, headers=headers)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=engine.metrics(), content_type="text/plain", headers=headers)

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/load", load)
    app.router.add_get("/metrics", metrics)
    return app


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
    )
    print(
        f"{ENGINE} (a simulator, not vLLM) serving {engine.model} revision {engine.revision} on 127.0.0.1:{args.port}",
        flush=True,
    )
    web.run_app(make_app(engine), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
