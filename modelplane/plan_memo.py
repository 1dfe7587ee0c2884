"""Memo of `plan --base REF` output, keyed by everything the output depends on.

The key is the code (``cache.code_fingerprint``), the head's whole input
(``Scan.fingerprint``: project file and every spec file's bytes), the base's
commit id (immutable), the environment and the flags that change the output.
A repeated `plan --base` in CI or an editor then costs a stat pass over the
files and two git lookups instead of two compiles. Plans against the applied
state are not memoized: the state moves under them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modelplane.compiler.incremental.spec_cache import code_fingerprint
from modelplane.compiler.source.scan import Scan
from modelplane.files import atomic_write

KEEP = 32


def key(head: Scan, root: Path, commit: str, **flags: Any) -> str:
    """The memo key of a plan of ``head`` against the base commit ``commit`` (a full id)."""
    parts = [
        code_fingerprint(),
        views_fingerprint(),
        str(root.resolve()),
        head.environment,
        head.fingerprint,
        commit,
        json.dumps(flags, sort_keys=True),
    ]
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


def views_fingerprint() -> str:
    """Identifies the CLI's views, which shape the stored output as much as the compiler does (the plan's id
    and approvals lines): sizes and modification times, as ``code_fingerprint``."""
    views = Path(__file__).resolve().parent / "cli" / "views"
    return "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in sorted(views.glob("*.py")))


def _dir(root: Path) -> Path:
    return root / ".modelplane" / "cache" / "plans"


def get(root: Path, k: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((_dir(root) / f"{k}.json").read_text())
        return data
    except (OSError, ValueError):
        return None


def put(root: Path, k: str, stdout: str, stderr: str, code: int) -> None:
    d = _dir(root)
    atomic_write(d / f"{k}.json", json.dumps({"stdout": stdout, "stderr": stderr, "code": code}).encode())
    entries = sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)
