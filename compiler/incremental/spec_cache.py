"""Content-keyed cache of validated spec documents, under ``.modelplane/cache/``.

An entry maps the hash of a file's bytes to its normalized documents, kept as the
JSON the loader serialized (``fingerprint.serialized``) and parsed only where a
stage reads one. The
whole cache is tied to the hash of modelplane.yaml (variables and overrides
change what a file means), the environment and the modelplane version, so a
hit is always exactly what validating the file again would give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from modelplane import __version__
from modelplane.compiler.incremental import indexed_file
from modelplane.compiler.timings import timed
from modelplane.files import atomic_write

CACHE_FORMAT = 4  # 2: documents are normalized (every default filled in); 3: with their own hashes; 4: one JSON
# line (the header, and per file its documents' index, own hashes and where each one's JSON ends) and the documents'
# JSON after it, back to back: written without copying them through a JSON encoder, read without parsing them

CachedDoc = tuple[int, dict[str, Any] | bytes, Any, tuple[str, str]]
"""(index in its file, normalized document, validated model or None, its own hashes: ``fingerprint.own_of``).

A document is its JSON (``bytes``): one validated by this run comes with its model, one read from the cache file
without (it is parsed where a stage reads it, ``SpecNode.data``, and its model built on first use,
``SpecNode.model``). A document ``put`` as a mapping is saved as its JSON."""
_PROCESS_CACHES: dict[tuple[str, str], SpecCache] = {}
_OPENED: dict[Path, SpecCache] = {}
_CODE: list[str] = []


def code_fingerprint() -> str:
    """Identifies the code that shapes cached results: the spec models, the compiler and the vLLM renderer.

    The version number alone does not move while the spec kinds change between
    releases (a new field must not be served from a cache that never saw it).
    Sizes and modification times of the source files: cheap, and any edit or
    reinstall changes them.
    """
    if not _CODE:
        import hashlib

        compiler = Path(__file__).resolve().parents[1]  # every stage, wherever it sits under compiler/
        stacks = compiler.parent / "stacks"
        sources = sorted(compiler.rglob("*.py")) + sorted((compiler.parent / "specs").glob("*.py"))
        sources += [stacks / "engine.py", stacks / "vllm_versions.py"]
        parts = [__version__]
        for f in sources:
            st = f.stat()
            parts.append(f"{f.parent.name}/{f.name}:{st.st_size}:{st.st_mtime_ns}")
        _CODE.append(hashlib.blake2b("|".join(parts).encode(), digest_size=8).hexdigest())
    return _CODE[0]


class SpecCache:
    def __init__(self, path: Path | None, header: dict[str, Any], entries: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self.entries = entries
        self.dirty = False
        self._models: dict[str, list[Any]] = {}

    @classmethod
    def in_memory(cls, env: str, project_hash: str) -> SpecCache:
        """A cache that lives only in this process: ``plan --base`` with ``--no-cache`` still
        validates a file that is the same on both sides once, not twice."""
        key = (env, project_hash)
        if key not in _PROCESS_CACHES:
            _PROCESS_CACHES[key] = cls(None, {}, {})
        return _PROCESS_CACHES[key]

    @classmethod
    @timed("cache read")
    def open(cls, root: Path, env: str, project_hash: str) -> SpecCache:
        path = root / ".modelplane" / "cache" / f"specs-{env}.json"
        header = {"format": CACHE_FORMAT, "modelplane": code_fingerprint(), "project": project_hash, "env": env}
        opened = _OPENED.get(path)
        if opened is not None and opened.header == header:
            # a plan --base reads the same cache for both sides: its entries are still exactly right
            return opened
        entries: dict[str, Any] = {}
        try:
            stored, buf, start = indexed_file.read(path)
            if stored.get("header") == header:
                entries = _entries(stored["entries"], buf, start)
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            # a missing or unreadable cache (or one of an older format: JSONDecodeError is a ValueError) is just a
            # cold start
            entries = {}
        _OPENED[path] = cls(path, header, entries)
        return _OPENED[path]

    def get(self, key: str) -> list[CachedDoc] | None:
        """Each document of the file with this hash."""
        found = self.entries.get(key)
        if found is None:
            return None
        models = self._models.get(key) or [None] * len(found)
        return [(i, d, m, (spec, meta)) for (i, d, spec, meta), m in zip(found, models, strict=True)]

    def put(self, key: str, docs: list[CachedDoc]) -> None:
        """Store a file's documents (the loader's are still their JSON: saved as is, not dumped again)."""
        self.entries[key] = [[i, d, *own] for i, d, _, own in docs]
        self._models[key] = [m for _, _, m, _ in docs]
        self.dirty = True

    @timed("cache write")
    def save(self, used: set[str]) -> None:
        """Write entries used by this run (plus as many older ones), atomically."""
        if self.path is None:
            return
        if not self.dirty and len(self.entries) <= 2 * len(used) + 64 and self.path.exists():
            return
        keep = [k for k in self.entries if k in used]
        room = 2 * len(used) + 64 - len(keep)
        if room > 0:
            keep += [k for k in self.entries if k not in used][:room]
        index: dict[str, list[tuple[int, str, str, int]]] = {}
        blobs: list[bytes] = []
        end = 0
        for k in keep:
            rows = index[k] = []
            for i, d, spec, meta in self.entries[k]:
                blob = d if isinstance(d, bytes) else orjson.dumps(d)
                blobs.append(blob)
                end += len(blob)
                rows.append((i, spec, meta, end))
        indexed_file.write(self.path, {"header": self.header, "entries": index}, blobs)
        self.dirty = False


def _entries(index: dict[str, list[list[Any]]], buf: bytes, start: int) -> dict[str, list[list[Any]]]:
    """The entries of a cache file: each document the bytes of its JSON, cut from after the index line ``start``."""
    out: dict[str, list[list[Any]]] = {}
    at = start
    for key, rows in index.items():
        docs = out[key] = []
        for i, spec, meta, end in rows:
            if start + end < at:
                raise ValueError("a spec cache index whose documents go backwards")  # read as no cache
            docs.append([i, buf[at : start + end], spec, meta])
            at = start + end
    if not indexed_file.ends_at_file_end(buf, start, at - start):
        raise ValueError("a spec cache file cut short (or with bytes after its documents)")  # read as no cache
    return out


class VerdictCache:
    """The last input that validated cleanly, by fingerprint, with its summary.

    ``validate`` on unchanged files then needs only to read and hash them.
    """

    def __init__(self, root: Path, env: str) -> None:
        self.path = root / ".modelplane" / "cache" / f"verdict-{env}.json"

    def get(self, fingerprint: str) -> dict[str, Any] | None:
        try:
            stored = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if (
            isinstance(stored, dict)
            and stored.get("fingerprint") == fingerprint
            and stored.get("modelplane") == code_fingerprint()
        ):
            summary: dict[str, Any] = stored["summary"]
            return summary
        return None

    def put(self, fingerprint: str, summary: dict[str, Any]) -> None:
        # keyed by the code too: a verdict of code that checked less (or differently) is no verdict
        payload = {"fingerprint": fingerprint, "modelplane": code_fingerprint(), "summary": summary}
        atomic_write(self.path, orjson.dumps(payload))
