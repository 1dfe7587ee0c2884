"""Benchmark `modelplane lsp` on a generated project: time from didChange to publishDiagnostics; prints figures.

    python benchmarks/bench_lsp.py [--nodes 10000] [--edits 100] [--seed 3] [--root DIR]

The server runs as an editor starts it (its own process, stdio), driven by pygls' LanguageClient.
The project comes from gen_specs.py (into a temporary folder unless --root names one already
generated). After the cold start, ``--edits`` random edits of random spec files, sent as full-text
didChange notifications like editors in full-sync mode: every other edit breaks something (a typo in
a reference, a wrong column, a version or description changed), the next one puts that file back.
Each is timed until the server publishes diagnostics for the edited document; then two wide edits
(the GPU stack every endpoint reads, a core dataset many domains read) are timed apart. The
server's RSS (now and peak) comes from /proc. Never a timed assertion: it prints, with the load
average (the machine may be shared).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _options import options

HERE = Path(__file__).resolve().parent
MUTATIONS = [
    # (what, pattern, replacement): the first match in the file is changed
    ("dangling dataset reference", re.compile(r"(- dataset: )([a-z0-9-]+)"), r"\1\2x"),
    ("dangling model reference", re.compile(r"(\n  model: )([a-z0-9-]+)"), r"\1\2-typo"),
    ("unknown column", re.compile(r"(columns: \[user_id, )value\]"), r"\1valeu]"),
    ("version changed", re.compile(r'version: "1\.0\.0"'), 'version: "1.0.1"'),
    ("description changed", re.compile(r"description: synthetic dataset"), "description: edited in the editor"),
    ("owner changed", re.compile(r"(owner: team-)(\d+)"), r"\1\2a"),
]


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.client = LanguageClient("bench-lsp", "1")
        self.published: dict[str, asyncio.Event] = {}
        self.counts: dict[str, int] = {}
        self.versions: dict[str, int] = {}

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)  # type: ignore[untyped-decorator]
        def _got(params: lsp.PublishDiagnosticsParams) -> None:
            self.counts[params.uri] = len(params.diagnostics)
            self.published.setdefault(params.uri, asyncio.Event()).set()

    def uri(self, rel: str) -> str:
        return (self.root / rel).resolve().as_uri()

    @property
    def pid(self) -> int:
        server = self.client._server  # pygls keeps the subprocess it started here
        assert server is not None
        return server.pid

    async def start(self) -> float:
        t = time.perf_counter()
        await self.client.start_io(sys.executable, "-m", "modelplane", "lsp", cwd=str(self.root))
        await self.client.initialize_async(
            lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=self.root.resolve().as_uri())
        )
        self.client.initialized(lsp.InitializedParams())
        # the project is compiled on `initialized`: the first document's diagnostics come after it
        first = next(iter(sorted(self.root.glob("domains/*.yaml"))))
        await self.open(first.relative_to(self.root).as_posix())
        return time.perf_counter() - t

    async def open(self, rel: str) -> None:
        uri = self.uri(rel)
        self.versions[uri] = 1
        event = self.published.setdefault(uri, asyncio.Event())
        event.clear()
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(
                    uri=uri, language_id="yaml", version=1, text=(self.root / rel).read_text()
                )
            )
        )
        await asyncio.wait_for(event.wait(), 600)

    async def change(self, rel: str, text: str) -> float:
        """Send the document's new text; seconds until its diagnostics are published."""
        uri = self.uri(rel)
        if uri not in self.versions:
            await self.open(rel)
        self.versions[uri] += 1
        event = self.published.setdefault(uri, asyncio.Event())
        event.clear()
        t = time.perf_counter()
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(version=self.versions[uri], uri=uri),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        await asyncio.wait_for(event.wait(), 120)
        return time.perf_counter() - t

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()  # type: ignore[no-untyped-call]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def main() -> None:
    args = options(__doc__, nodes=10000, edits=100, seed=3, root="")
    rng = random.Random(args.seed)
    if args.root:
        root = Path(args.root)
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-lsp-")) / "project"
        subprocess.run([sys.executable, str(HERE / "gen_specs.py"), "--nodes", str(args.nodes), "--out", str(root)],
                       check=True, capture_output=True)  # fmt: skip
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml") if p.name != "modelplane.yaml")
    print(f"project: {root} ({len(files)} spec files, {args.nodes} nodes requested)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    b = Bench(root)
    cold = await b.start()
    rss0, _ = rss_kib(b.pid)
    print(f"cold start (spawn, initialize, compile, first didOpen answered): {cold:.2f} s; RSS {rss0 / 1024:.0f} MiB")

    times: list[float] = []
    by_what: dict[str, list[float]] = {}
    broke = 0
    slowest: list[tuple[float, str, str]] = []
    while len(times) < args.edits:
        rel = rng.choice(files)
        original = (root / rel).read_text()
        usable = [(w, p, r) for w, p, r in MUTATIONS if p.search(original)]
        if not usable:
            continue
        what, pattern, repl = rng.choice(usable)
        edited = pattern.sub(repl, original, count=1)
        took = await b.change(rel, edited)
        broke += b.counts.get(b.uri(rel), 0) > 0
        times.append(took)
        by_what.setdefault(what, []).append(took)
        slowest.append((took, what, rel))
        if len(times) < args.edits:
            times.append(await b.change(rel, original))  # and put back, as the next keystrokes would
            by_what.setdefault("put back", []).append(times[-1])
            slowest.append((times[-1], "put back", rel))

    wide = {}
    for rel, pattern, repl in (
        ("platform/stacks.yaml", re.compile(r"max_nodes: (\d+)"), r"max_nodes: 1\1"),
        ("core/datasets.yaml", re.compile(r"\{name: value, type: string\}"), "{name: value, type: int64}"),
    ):
        original = (root / rel).read_text()
        wide[rel] = await b.change(rel, pattern.sub(repl, original, count=1))
        await b.change(rel, original)
    rss, hwm = rss_kib(b.pid)
    await b.stop()

    ms = [t * 1000 for t in times]
    print(f"\n{len(ms)} edits (didChange -> publishDiagnostics of that document), ms:")
    print(f"  p50 {statistics.median(ms):.1f}  p95 {pct(ms, 95):.1f}  p99 {pct(ms, 99):.1f}  max {max(ms):.1f}"
          f"  mean {statistics.fmean(ms):.1f}   (goal: p95 <= 150)")  # fmt: skip
    print(
        f"  edits after which the file had diagnostics: {broke} of {sum(map(len, by_what.values())) - len(by_what.get('put back', []))}"
    )
    for what, ts in sorted(by_what.items()):
        print(f"    {what:<28} n={len(ts):<3} p50 {statistics.median(ts) * 1000:7.1f}  max {max(ts) * 1000:7.1f}")
    print("  slowest: " + "; ".join(f"{w} in {r} {t * 1000:.0f}" for t, w, r in sorted(slowest, reverse=True)[:3]))
    for rel, took in wide.items():
        print(f"  wide edit {rel}: {took * 1000:.0f} ms")
    print(f"server RSS {rss / 1024:.0f} MiB now, {hwm / 1024:.0f} MiB peak   (goal: <= 1024)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  (2 cores, shared machine)")
    if not args.root:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
