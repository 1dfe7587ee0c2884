"""Serving a written explorer on loopback: a convenience, the site works from disk without it."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from modelplane.errors import ModelplaneError


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # a request log line per file is noise here
        pass


def serve(directory: Path, port: int) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1 only (the site may describe private infrastructure), not yet started."""
    handler = functools.partial(_Quiet, directory=str(directory))
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise ModelplaneError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="pick another with --port (0: any free one)"
        ) from exc
