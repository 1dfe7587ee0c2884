"""Synthetic traffic for one canary analysis window, when real traffic cannot fill it (``when_idle: synthesize``).

Each request is pinned to one revision (canary or stable) and marked
synthetic, so the router's stats keep it apart from real traffic and the
share gate never counts it. The rate is what the sample size still needs:
every tick it tops each revision up toward ``need`` requests (real ones first)
by the time 85% of the window has passed, at most ``max_qps`` in all and a
bounded number in flight, and it stops with the window (or when the activity
running it is cancelled). Requests take the endpoint's declared shape: input
length, output length and the share streamed, or prompts replayed in turn
from the spec's JSONL file.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from modelplane.runtime.local.router import PIN_HEADER, SYNTHETIC_HEADER

TICK_S = 0.25
FILL_BY = 0.85
"""Aim to have the sample by this share of the window, so late requests still land inside it."""
MARGIN = 1.1
MAX_INFLIGHT = 64


@dataclass(frozen=True)
class Shape:
    model: str
    input_tokens: int = 50
    output_tokens: int = 50
    stream_fraction: float = 0.0
    prompts: tuple[dict[str, Any], ...] = ()
    """Replayed in turn; each a {"prompt": ...} or {"messages": [...]} object (its own max_tokens kept)."""


@dataclass
class Sent:
    by_revision: dict[str, int] = field(default_factory=dict)
    failed: int = 0


def read_prompts(path: Path) -> tuple[dict[str, Any], ...]:
    """The spec's prompt file: one JSON object per line with ``prompt`` or ``messages``."""
    out: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(doc, dict) or not ({"prompt", "messages"} & doc.keys()):
            raise ValueError(f'{path}:{n}: each line is an object with "prompt" or "messages"')
        out.append(doc)
    if not out:
        raise ValueError(f"{path}: no prompts in it")
    return tuple(out)


def _bodies(shape: Shape) -> Iterator[tuple[str, dict[str, Any]]]:
    words = " ".join(f"w{i}" for i in range(shape.input_tokens))
    default = ({"prompt": words},)
    rng = random.Random(0)
    for doc in itertools.cycle(shape.prompts or default):
        body = {"model": shape.model, "max_tokens": shape.output_tokens, **doc}
        body["model"] = shape.model
        if rng.random() < shape.stream_fraction:
            body["stream"] = True
        yield ("/v1/chat/completions" if "messages" in body else "/v1/completions"), body


async def synthesize(
    url: str,
    admin: dict[str, str],
    revisions: list[str],
    need: int,
    window_s: float,
    shape: Shape,
    max_qps: float,
    real_counts: Callable[[float], Any],
    beat: Callable[[dict[str, Any]], None] = lambda _: None,
) -> Sent:
    """Send pinned synthetic requests for ``window_s`` seconds; ``real_counts(elapsed)`` -> {revision: real}."""
    sent = Sent(by_revision=dict.fromkeys(revisions, 0))
    bodies = _bodies(shape)
    start = time.monotonic()
    inflight: set[asyncio.Task[None]] = set()
    credit = dict.fromkeys(revisions, 0.0)
    headers = {**admin, SYNTHETIC_HEADER: "1", "content-type": "application/json"}

    async def one(session: aiohttp.ClientSession, revision: str) -> None:
        path, body = next(bodies)
        try:
            async with session.post(url + path, json=body, headers={**headers, PIN_HEADER: revision}) as r:
                await r.read()
                if r.status >= 400:
                    sent.failed += 1
        except (aiohttp.ClientError, TimeoutError):
            sent.failed += 1

    timeout = aiohttp.ClientTimeout(total=max(5.0, window_s))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            while (elapsed := time.monotonic() - start) < window_s:
                real = await real_counts(elapsed)
                left = max(TICK_S, FILL_BY * window_s - elapsed)
                wanted = {
                    r: max(0.0, need * MARGIN - real.get(r, 0) - sent.by_revision[r]) * TICK_S / left for r in revisions
                }
                total = sum(wanted.values())
                scale = min(1.0, max_qps * TICK_S / total) if total else 0.0
                for r in revisions:
                    credit[r] += wanted[r] * scale
                    while credit[r] >= 1.0 and len(inflight) < MAX_INFLIGHT:
                        credit[r] -= 1.0
                        sent.by_revision[r] += 1
                        task = asyncio.create_task(one(session, r))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                beat({"elapsed_s": round(elapsed, 1), "synthetic_sent": dict(sent.by_revision)})
                await asyncio.sleep(TICK_S)
            if inflight:  # the window is over: what is still running may finish, briefly
                await asyncio.wait(inflight, timeout=2.0)
        finally:
            for task in inflight:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*inflight, return_exceptions=True)
    return sent
