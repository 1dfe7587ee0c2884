"""The OpenAI API's request checks and error bodies, shared by the local router and the simulator.

A malformed request is the client's mistake: it gets a 4xx with OpenAI's error
shape (``{"error": {"message", "type", "param", "code"}}``) from whichever sees
it first, and is never a replica failure (the router counts only upstream 5xx,
connection errors and timeouts against a replica or a canary).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

COMPLETION_PATHS = {"/v1/completions": False, "/v1/chat/completions": True}
"""Path -> is it chat."""

MAX_BODY = 16 * 1024 * 1024
"""The largest request body the router and the simulator take (a 413 past it)."""

_POSITIVE_INTS = ("max_tokens", "max_completion_tokens", "n")
_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


class ClientError(Exception):
    """A request the client must fix: what is wrong, which parameter, and OpenAI's code for it."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value", status: int = 400):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    type_ = "invalid_request_error" if status < 500 else "server_error"
    return web.json_response(error_body(message, type_, param, code), status=status, headers=headers)


def client_error_response(exc: ClientError, headers: dict[str, str] | None = None) -> web.Response:
    return error_response(exc.status, exc.message, exc.param, exc.code, headers)


VLLM_ERROR_TYPES = {400: "BadRequestError", 404: "NotFoundError", 422: "UnprocessableEntityError"}


def vllm_error_response(
    status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """vLLM's error body (``ErrorResponse``, vllm/entrypoints/openai/protocol.py since 0.10): OpenAI's envelope,
    but ``type`` is an exception-class name (or, for other statuses, the HTTP phrase) and ``code`` the status."""
    type_ = VLLM_ERROR_TYPES.get(status) or ("InternalServerError" if status == 500 else HTTPStatus(status).phrase)
    body = {"error": {"message": message, "type": type_, "param": param, "code": status}}
    return web.json_response(body, status=status, headers=headers)


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_completion(raw: bytes, chat: bool, require_model: bool = True) -> dict[str, Any]:
    """The request's JSON object, checked as far as routing and the simulator rely on it; else ClientError."""
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ClientError(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="invalid_json",
        ) from None
    except (UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser allows
        kind = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "nested too deeply"
        raise ClientError(f"the request body is not valid JSON: it is {kind}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ClientError(
            f"the request body must be a JSON object, not a JSON {type(body).__name__ if body is not None else 'null'}",
            code="invalid_type",
        )
    model = body.get("model")
    if model is None and require_model:
        raise ClientError("missing required parameter `model`", "model", "missing_required_parameter")
    if model is not None and (not isinstance(model, str) or not model):
        raise ClientError(f"`model` must be a non-empty string, got {_show(model)}", "model", "invalid_type")
    for name in _POSITIVE_INTS:
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ClientError(f"`{name}` must be an integer >= 1, got {_show(v)}", name, "invalid_type")
    for name in _NUMBERS:
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ClientError(f"`{name}` must be a number, got {_show(v)}", name, "invalid_type")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ClientError(f"`stream` must be true or false, got {_show(stream)}", "stream", "invalid_type")
    if chat:
        messages = body.get("messages")
        if messages is None:
            raise ClientError("missing required parameter `messages`", "messages", "missing_required_parameter")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise ClientError(
                f"`messages` must be a non-empty list of message objects, got {_show(messages)}",
                "messages",
                "invalid_type",
            )
    else:
        prompt = body.get("prompt")
        if prompt is None:
            raise ClientError("missing required parameter `prompt`", "prompt", "missing_required_parameter")
        if not isinstance(prompt, str | list):
            raise ClientError(
                f"`prompt` must be a string or a list of strings or token ids, got {_show(prompt)}",
                "prompt",
                "invalid_type",
            )
    return body


async def read_limited(request: web.Request, limit: int = MAX_BODY) -> tuple[bytes | None, int]:
    """The body, or None (and its size) past ``limit``: the rest is read and dropped, not left unread.

    A client writes its whole body before it reads the answer (the ``openai`` client does). Answering 413
    while part of the body is unread means closing on unread data, which resets the connection and can
    drop the 413 on its way; or keeping it open, when the server's idle and header deadlines start on the
    rest of the body as if it were a new request. Reading it to the end (under the caller's body deadline)
    answers once it has all arrived, on a connection still fit to reuse."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size <= limit:
            parts.append(chunk)
        elif parts:
            parts.clear()
    return (b"".join(parts) if size <= limit else None), size
