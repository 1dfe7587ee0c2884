"""What the simulator answers, in vLLM 0.33's shapes: the request's sampling plan, made-up tokens and logprobs,
stop strings, and the completion / chat response and stream-chunk bodies.

Pure functions and small state (no I/O, no clock): ``simulator`` paces them by
its latency model. The generated text is ``" tok0 tok1 ..."`` on purpose, so
nobody mistakes it for a model's; logprobs are made up but of the right shape
(completions: ``tokens`` / ``token_logprobs`` / ``top_logprobs`` /
``text_offset``; chat: ``content[].{token, logprob, bytes, top_logprobs}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelplane.runtime.local.openai_api import ClientError

MAX_LOGPROBS = 20
"""vLLM's default ``--max-logprobs``."""
DEFAULT_COMPLETION_TOKENS = 16
"""vLLM's (and OpenAI's) ``max_tokens`` default for /v1/completions."""
CHAT_EOS_AFTER = 16
"""A chat request without ``max_tokens`` ends here with ``stop``, standing in for the model's end-of-sequence."""


def count_tokens(text: str) -> int:
    """The simulator's tokenizer: one token per whitespace-separated word (at least one)."""
    return max(1, len(text.split()))


def token_text(i: int) -> str:
    return f" tok{i}"


def made_up_logprob(i: int, choice: int) -> float:
    """Deterministic, in (-2, 0]: a value of the right type and range, not a model's."""
    return -((i * 7919 + choice * 104729) % 1000) / 500


@dataclass(frozen=True)
class Plan:
    """A completion request as the simulator runs it."""

    chat: bool
    prompts: tuple[str, ...]
    prompt_tokens: tuple[int, ...]
    n: int
    max_tokens: int
    eos: bool
    """No ``max_tokens`` in a chat request: finish with ``stop`` (an EOS stand-in), not ``length``."""
    stop: tuple[str, ...]
    echo: bool
    logprobs: int | None
    """Top alternatives per token (completions' ``logprobs``, chat's ``top_logprobs``); None: no logprobs."""
    stream: bool
    include_usage: bool
    continuous_usage: bool

    @property
    def total_prompt_tokens(self) -> int:
        return sum(self.prompt_tokens)

    @property
    def sequences(self) -> int:
        return len(self.prompts) * self.n


def _message_text(m: dict[str, Any]) -> str:
    content = m.get("content")
    if isinstance(content, list):  # content parts: only the text ones count
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _prompts(body: dict[str, Any], chat: bool) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if chat:
        text = " ".join(_message_text(m) for m in body["messages"])
        return (text,), (count_tokens(text),)
    prompt = body["prompt"]
    if isinstance(prompt, str):
        return (prompt,), (count_tokens(prompt),)
    if prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):  # one prompt of token ids
        return (" ".join(f"t{t}" for t in prompt),), (len(prompt),)
    texts: list[str] = []
    counts: list[int] = []
    for p in prompt:  # a batch: strings, or lists of token ids
        if isinstance(p, str):
            texts.append(p)
            counts.append(count_tokens(p))
        elif isinstance(p, list):
            texts.append(" ".join(f"t{t}" for t in p))
            counts.append(max(1, len(p)))
        else:
            raise ClientError(f"each prompt in a list must be a string or a list of token ids, got {p!r}", "prompt")
    if not texts:
        raise ClientError("`prompt` is an empty list: give a string or a non-empty list", "prompt")
    return tuple(texts), tuple(counts)


def _stop(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return tuple(s for s in stop if s)
    raise ClientError(f"`stop` must be a string or a list of strings, got {stop!r}", "stop")


def _logprobs(body: dict[str, Any], chat: bool) -> int | None:
    if chat:
        top = body.get("top_logprobs")
        if not body.get("logprobs"):
            if top is not None:
                raise ClientError("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs")
            return None
        k = 0 if top is None else top
        name = "top_logprobs"
    else:
        k = body.get("logprobs")
        if k is None:
            return None
        name = "logprobs"
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ClientError(f"`{name}` must be an integer >= 0, got {k!r}", name)
    if k > MAX_LOGPROBS:
        raise ClientError(f"Requested sample logprobs of {k}, which is greater than max allowed: {MAX_LOGPROBS}", name)
    return k


def plan(body: dict[str, Any], chat: bool, max_model_len: int) -> Plan:
    """The request's plan, or ClientError with vLLM's message where vLLM refuses it (400)."""
    prompts, counts = _prompts(body, chat)
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    longest = max(counts)
    if longest >= max_model_len or (asked is not None and longest + asked > max_model_len):
        out = asked if asked is not None else 0
        raise ClientError(
            f"This model's maximum context length is {max_model_len} tokens. However, you requested {out} output "
            f"tokens and your prompt contains {longest} input tokens, for a total of {longest + out} tokens. "
            "Please reduce the length of the input prompt or the number of requested output tokens.",
            "input_tokens",
        )
    if asked is None:
        max_tokens = min(CHAT_EOS_AFTER if chat else DEFAULT_COMPLETION_TOKENS, max_model_len - longest)
    else:
        max_tokens = asked
    options = body.get("stream_options")
    stream = bool(body.get("stream"))
    if options is not None and not stream:
        raise ClientError("Stream options can only be defined when `stream=True`.", "stream_options")
    if options is not None and not isinstance(options, dict):
        raise ClientError(f"`stream_options` must be an object, got {options!r}", "stream_options")
    options = options or {}
    return Plan(
        chat=chat,
        prompts=prompts,
        prompt_tokens=counts,
        n=body.get("n") or 1,
        max_tokens=max_tokens,
        eos=chat and asked is None,
        stop=_stop(body),
        echo=bool(body.get("echo")),
        logprobs=_logprobs(body, chat),
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        continuous_usage=bool(options.get("continuous_usage_stats")),
    )


@dataclass
class Choice:
    """One sequence being generated: its text, what has been sent of it, and why it finished."""

    index: int
    stop: tuple[str, ...]
    text: str = ""
    sent: int = 0
    tokens: list[tuple[int, str]] = field(default_factory=list)
    """(position, token text) of tokens generated and not yet reported (for logprobs)."""
    generated: int = 0
    finish: str | None = None
    stop_reason: str | None = None
    opened: bool = False
    """A stream has sent this choice's first text (which carries the echoed prompt)."""
    closed: bool = False
    """A stream has sent this choice's finish_reason."""

    def step(self, plan: Plan) -> None:
        """Generate the next token; finish on a stop string (cut before it, as vLLM) or at the limit."""
        if self.finish is not None:
            return
        tok = token_text(self.generated)
        self.tokens.append((self.generated, tok))
        before = len(self.text)
        self.text += tok
        self.generated += 1
        longest = max((len(s) for s in self.stop), default=0)
        window = max(0, before - longest + 1)
        hits = [(i, s) for s in self.stop if (i := self.text.find(s, window)) >= 0]
        if hits:
            at, s = min(hits)
            self.text = self.text[:at]
            self.finish, self.stop_reason = "stop", s
        elif self.generated >= plan.max_tokens:
            self.finish = "stop" if plan.eos else "length"

    def ready(self) -> str:
        """Text to send now: all of it once finished, else all but what could still start a stop string."""
        hold = 0 if self.finish is not None else max((len(s) for s in self.stop), default=1) - 1
        end = max(self.sent, len(self.text) - hold)
        out = self.text[self.sent : end]
        self.sent = end
        return out

    def take_tokens(self) -> list[tuple[int, str]]:
        out, self.tokens = self.tokens, []
        return out


def usage(plan: Plan, choices: list[Choice]) -> dict[str, int]:
    done = sum(c.generated for c in choices)
    return {
        "prompt_tokens": plan.total_prompt_tokens,
        "total_tokens": plan.total_prompt_tokens + done,
        "completion_tokens": done,
    }


def _top(pos: int, choice: int, k: int, tok: str) -> list[tuple[str, float]]:
    lp = made_up_logprob(pos, choice)
    return [(tok, lp)] + [(f" alt{j}", lp - 0.5 * j - 0.1) for j in range(1, k)]


def completion_logprobs(
    tokens: list[tuple[int, str]], choice: int, k: int, offset: int, prompt: str | None = None
) -> dict[str, Any]:
    """Completions' logprobs object; ``prompt`` (with echo) adds its tokens first."""
    out: dict[str, Any] = {"text_offset": [], "token_logprobs": [], "tokens": [], "top_logprobs": []}
    at = offset
    if prompt is not None:
        for i, word in enumerate(prompt.split(" ")):
            piece = word if i == 0 else " " + word
            out["text_offset"].append(at)
            out["tokens"].append(piece)
            # vLLM sends null for the first prompt token, which the openai client's types reject: a value instead
            out["token_logprobs"].append(made_up_logprob(i, choice))
            out["top_logprobs"].append({piece: made_up_logprob(i, choice)})
            at += len(piece)
    for pos, tok in tokens:
        out["text_offset"].append(at)
        out["tokens"].append(tok)
        out["token_logprobs"].append(made_up_logprob(pos, choice))
        out["top_logprobs"].append(dict(_top(pos, choice, max(k, 1), tok)))
        at += len(tok)
    return out


def chat_logprobs(tokens: list[tuple[int, str]], choice: int, k: int) -> dict[str, Any]:
    def entry(tok: str, lp: float) -> dict[str, Any]:
        return {"token": tok, "logprob": lp, "bytes": list(tok.encode())}

    return {
        "content": [
            {
                **entry(tok, made_up_logprob(pos, choice)),
                "top_logprobs": [entry(*t) for t in _top(pos, choice, k, tok)][:k],
            }
            for pos, tok in tokens
        ]
    }
