"""Memo of `plan --base REF` output, keyed by everything the output depends on.

The key is the code (``cache.code_fingerprint``), the head's whole input
(``Scan.fingerprint``: project file and every spec file's bytes), the base's
commit id (immutable), the environment and the flags that change the output.
A repeated `plan --base` in CI or an editor then costs a stat pass over the
files and two git lookups instead of two compiles. Plans against the applied
state are not memoized: the state moves under them.

Beside the outputs it keeps one *recipe* per project-file hash: what the validated project file says
about where the inputs are (spec globs, size limit, profiles folder) and its environments. The warm
path (``modelplane.quick``) reads that instead of validating the project file, which needs the spec
models and pydantic (two thirds of a warm plan's time). Equal bytes validate to the equal recipe, so
the key it computes is the one the CLI would.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.compiler.incremental.spec_cache import code_fingerprint
from modelplane.compiler.source.inputs import ScanRecipe
from modelplane.files import atomic_write

if TYPE_CHECKING:
    from modelplane.compiler.source.scan import Scan

KEEP = 32


def key(head: Scan, root: Path, commit: str, **flags: Any) -> str:
    """The memo key of a plan of ``head`` against the base commit ``commit`` (a full id); it also keeps
    the head's recipe for the warm path."""
    _remember_recipe(root, head)
    return key_of(head.fingerprint, head.environment, root, commit, **flags)


def key_of(fingerprint: str, environment: str, root: Path, commit: str, **flags: Any) -> str:
    parts = [
        code_fingerprint(),
        views_fingerprint(),
        str(root.resolve()),
        environment,
        fingerprint,
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


def _recipe_path(root: Path, project_hash: str) -> Path:
    return _dir(root) / "recipes" / f"{code_fingerprint()}-{project_hash}.json"


def _remember_recipe(root: Path, head: Scan) -> None:
    path = _recipe_path(root, head.project_hash)
    if path.exists():
        return
    r = head.recipe
    recipe = {
        "specs": r.specs,
        "max_file_bytes": r.max_file_bytes,
        "profiles": r.profiles,
        "default_environment": head.project.env_name(None),
        "environments": list(head.project.environments),
    }
    atomic_write(path, json.dumps(recipe).encode())
    kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEEP:]:
        old.unlink(missing_ok=True)


def recipe(root: Path, project_hash: str, env: str | None) -> tuple[ScanRecipe, str] | None:
    """The recipe the CLI kept for a project file with these bytes, and the environment ``env`` names
    (the default when None); None when there is none, or ``env`` is not one of the file's."""
    try:
        data = json.loads(_recipe_path(root, project_hash).read_bytes())
        environment = env or data["default_environment"]
        if environment not in data["environments"]:
            return None
        return ScanRecipe(list(data["specs"]), int(data["max_file_bytes"]), str(data["profiles"])), environment
    except (OSError, ValueError, KeyError, TypeError):
        return None
