"""The caches' file layout: one JSON line (what the cache keeps about its documents, where each one's JSON ends),
then the documents' JSON back to back.

Written from where the documents lie (``files.atomic_write`` takes parts: no joined copy) and read without parsing
them: a reader slices a document out where a stage needs it. Both the graph cache and the spec cache use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from modelplane.files import atomic_write


def write(path: Path, index: Any, documents: list[bytes]) -> None:
    """``index`` as the first line, then ``documents``, atomically."""
    atomic_write(path, [orjson.dumps(index), b"\n", *documents])


def read(path: Path) -> tuple[Any, bytes, int]:
    """(the index line parsed, the file's bytes, where its documents start). Raises ``OSError`` for a file that
    cannot be read, ``ValueError`` for one not in this layout (an older format's single JSON value, or no JSON)."""
    buf = path.read_bytes()
    head = buf.index(b"\n")
    return orjson.loads(memoryview(buf)[:head]), buf, head + 1


def ends_at_file_end(buf: bytes, start: int, last_end: int) -> bool:
    """Whether the documents, the last ending ``last_end`` bytes after ``start``, end where the file does: a file
    cut short (a full disk, an interrupted copy) would hand out truncated documents."""
    return start + last_end == len(buf)
