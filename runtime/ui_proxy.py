"""A read-only front for the embedded Temporal server's Web UI.

The dev server's UI has no switch to turn write actions off, and anyone who can
reach it can terminate, reset or signal an apply (which leaves a router half
rolled out). ``temporal.ui: read-only`` (the default) puts this proxy in front:
reads (GET, HEAD) pass through; anything else is refused with 403 and says how
to allow it; the UI's settings say ``DisableWriteActions`` so it hides those
buttons. It exits with the server it fronts.

    python -m modelplane.runtime.ui_proxy --upstream 127.0.0.1:8233 --port 8234 --server-pid 123
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    )
)
REFUSAL = {
    "code": 7,
    "message": "the embedded server's Web UI is read-only: set `temporal.ui: on` in modelplane.yaml to allow "
    "write actions (terminate, reset, signal), or use `modelplane abort`",
}


def handler_for(upstream: str) -> type[BaseHTTPRequestHandler]:
    host, _, port = upstream.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a client that stops sending is dropped

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._forward()

        def do_HEAD(self) -> None:
            self._forward()

        def _refuse(self) -> None:
            body = json.dumps(REFUSAL).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

        def _forward(self) -> None:
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            headers["Host"] = upstream
            try:
                conn.request(self.command, self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except OSError:
                self.send_error(502, "the embedded Temporal server's UI does not answer")
                return
            finally:
                conn.close()
            if self.path.split("?", 1)[0].rstrip("/").endswith("/api/v1/settings") and resp.status == 200:
                try:
                    settings = json.loads(body)
                    settings["DisableWriteActions"] = True  # the UI hides terminate, reset, signal...
                    body = json.dumps(settings).encode()
                except ValueError:
                    pass
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def serve(upstream: str, port: int, server_pid: int | None) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler_for(upstream))
    httpd.daemon_threads = True
    if server_pid is not None:

        def watch() -> None:  # the UI it fronts is gone: so is the reason to run
            while True:
                time.sleep(2)
                try:
                    os.kill(server_pid, 0)
                except ProcessLookupError:
                    httpd.shutdown()
                    return

        threading.Thread(target=watch, daemon=True).start()
    httpd.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="host:port of the server's own Web UI")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--server-pid", type=int, help="exit when this process is gone")
    args = ap.parse_args()
    serve(args.upstream, args.port, args.server_pid)


if __name__ == "__main__":
    main()
