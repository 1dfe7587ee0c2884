"""Writing the explorer's folder: the static app (HTML, JS, CSS, vendored libraries) and its data.

The data goes in ``data/*.js`` files that assign a global rather than JSON files: a page opened from
disk (``file://``) may load scripts but may not ``fetch`` files beside it, and the site must work
without a server.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.files import STATE_FOLDER, atomic_write, private_dir
from modelplane.specs.base import NodeId

STATIC = Path(__file__).parent / "static"
_SEPARATOR = re.compile(r"^---(\s|$)")


def _starts(text: str) -> list[int]:
    """The line (1-based) where each document of a YAML file starts: its first line that is not blank,
    a comment or a ``---`` separator."""
    starts: list[int] = []
    open_doc = True  # waiting for the first content line of a document
    for no, line in enumerate(text.splitlines(), 1):
        if _SEPARATOR.match(line):
            open_doc = True
            continue
        stripped = line.strip()
        if open_doc and stripped and not stripped.startswith("#"):
            starts.append(no)
            open_doc = False
    return starts


def source_lines(root: Path, graph: LineageGraph, cache: Path | None = None) -> dict[NodeId, int]:
    """Each node's line in its file. ``cache``: a file keeping each file's document starts by content
    hash (the hashes the scan already computed), so an unchanged file is not read again: at 10,000
    specs, reading every file was most of the time the site took to write."""
    hashes = graph.specs.files
    known: dict[str, list[int]] = {}
    if cache is not None:
        try:
            known = orjson.loads(cache.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            known = {}
    by_file: dict[str, list[tuple[int, NodeId]]] = {}
    for nid, node in graph.nodes.items():
        by_file.setdefault(node.file, []).append((node.index, nid))
    out: dict[NodeId, int] = {}
    fresh: dict[str, list[int]] = {}
    for name, docs in by_file.items():
        digest = hashes.get(name)
        starts = known.get(digest) if digest else None
        if starts is None:
            try:
                starts = _starts((root / name).read_text(encoding="utf-8", errors="replace"))
            except OSError:
                starts = []
        if digest:
            fresh[digest] = starts
        for idx, nid in docs:
            out[nid] = starts[idx] if idx < len(starts) else 1
    if cache is not None and fresh != known:
        atomic_write(cache, orjson.dumps(fresh))
    return out


def _script(var: str, doc: Any) -> bytes:
    return b"window." + var.encode() + b" = " + orjson.dumps(doc) + b";\n"


def write_site(out: Path, graph_doc: dict[str, Any], details: dict[str, Any]) -> list[Path]:
    """Write the site into ``out`` (created; files of an earlier site there are replaced). Under
    ``.modelplane/`` the files are the owner's alone, like everything there; elsewhere (a CI artifact,
    a folder to publish) they are readable by all."""
    private = STATE_FOLDER in out.resolve().parts
    if private:
        private_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    mode = 0o600 if private else 0o644
    written = []
    files: list[tuple[Path, bytes]] = []
    for src in sorted(STATIC.rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts or src.suffix == ".py":
            continue
        files.append((out / src.relative_to(STATIC), src.read_bytes()))
    files.append((out / "data" / "graph.js", _script("MODELPLANE_GRAPH", graph_doc)))
    files.append((out / "data" / "details.js", _script("MODELPLANE_DETAILS", details)))
    for dest, data in files:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
        os.replace(tmp, dest)
        written.append(dest)
    return written
