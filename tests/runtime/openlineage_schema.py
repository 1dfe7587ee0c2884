"""Validate OpenLineage events against the spec's published JSON schemas, vendored in ``openlineage_spec/``
(OpenLineage/OpenLineage at 8f02abf, spec/OpenLineage.json and spec/facets/*.json; Apache-2.0, LICENSE
beside them), and a loopback HTTP receiver that records what it is sent."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "openlineage_spec"
CUSTOM_PREFIX = "modelplane_"


def _registry() -> Registry[Any]:
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)  # type: ignore[no-any-return]


REGISTRY = _registry()
CORE = json.loads((SPEC / "OpenLineage.json").read_text())["$id"]


def _validator(url: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": url}, registry=REGISTRY, format_checker=FormatChecker())


def problems(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` breaks the spec: the event against its type's schema, then each facet against
    the schema its ``_schemaURL`` names (a custom ``modelplane_`` facet against the base facet)."""
    kind = "RunEvent" if "run" in event else "DatasetEvent" if "dataset" in event else "JobEvent"
    out = [
        f"{kind}: {e.message} at {list(e.absolute_path)}"
        for e in _validator(f"{CORE}#/$defs/{kind}").iter_errors(event)
    ]
    for where, name, facet in _facets(event):
        url = facet.get("_schemaURL", "")
        if name.startswith(CUSTOM_PREFIX):
            url = f"{CORE}#/$defs/{where}Facet"
        try:
            errors = list(_validator(url).iter_errors(facet))
        except Exception as exc:  # an unknown schema URL is a problem too
            out.append(f"{where} facet {name}: schema {url} cannot be resolved ({exc})")
            continue
        out += [f"{where} facet {name}: {e.message} at {list(e.absolute_path)}" for e in errors]
    return out


def _facets(event: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, facet in (event.get("run") or {}).get("facets", {}).items():
        yield "Run", name, facet
    for name, facet in (event.get("job") or {}).get("facets", {}).items():
        yield "Job", name, facet
    datasets = [*(event.get("inputs") or []), *(event.get("outputs") or [])]
    if "dataset" in event:
        datasets.append(event["dataset"])
    for ds in datasets:
        for name, facet in (ds.get("facets") or {}).items():
            yield "Dataset", name, facet


class Receiver:
    """An aiohttp server on loopback, in its own thread, recording every event POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        self.events: list[dict[str, Any]] = []
        self.status = status
        self.url = ""
        self._lock = threading.Lock()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.status == 200:
            with self._lock:
                self.events.append(json.loads(body))
        return web.Response(status=self.status)

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)


@contextmanager
def receiver(status: int = 200) -> Iterator[Receiver]:
    rec = Receiver(status)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/lineage", rec._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        rec.url = f"http://127.0.0.1:{port}"
        runner_box.append(runner)
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield rec
    finally:
        asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
