"""Content-keyed cache of validated spec documents, under ``.modelplane/cache/``.

An entry maps the hash of a file's bytes to its normalized documents. The
whole cache is tied to the hash of modelplane.yaml (variables and overrides
change what a file means), the environment and the modelplane version, so a
hit is always exactly what validating the file again would give.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from modelplane import __version__

CACHE_FORMAT = 1


class SpecCache:
    def __init__(self, path: Path, header: dict[str, Any], entries: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self.entries = entries
        self.dirty = False

    @classmethod
    def open(cls, root: Path, env: str, project_hash: str) -> SpecCache:
        path = root / ".modelplane" / "cache" / f"specs-{env}.json"
        header = {"format": CACHE_FORMAT, "modelplane": __version__, "project": project_hash, "env": env}
        entries: dict[str, Any] = {}
        try:
            stored = orjson.loads(path.read_bytes())
            if stored.get("header") == header:
                entries = stored["entries"]
        except (OSError, orjson.JSONDecodeError, AttributeError, KeyError):
            pass  # a missing or unreadable cache is just a cold start
        return cls(path, header, entries)

    def get(self, key: str) -> list[list[Any]] | None:
        found: list[list[Any]] | None = self.entries.get(key)
        return found

    def put(self, key: str, docs: list[tuple[int, dict[str, Any]]]) -> None:
        self.entries[key] = [list(d) for d in docs]
        self.dirty = True

    def save(self, used: set[str]) -> None:
        """Write entries used by this run (plus as many older ones), atomically."""
        if not self.dirty and len(self.entries) <= 2 * len(used) + 64:
            return
        keep = {k: v for k, v in self.entries.items() if k in used}
        for k, v in self.entries.items():
            if len(keep) >= 2 * len(used) + 64:
                break
            keep.setdefault(k, v)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".specs-", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps({"header": self.header, "entries": keep}))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only checkout still works, just without a warm cache
