"""The artifact a training run made: its output folder, known by a digest of every file in it.

``run-workflow`` of a workflow that outputs a model reports ``{"digest", "path", "model", "files"}``; the
apply hands it to the model's ``register`` (the catalog records it) and to the rollouts of the endpoints that
serve the model (their revision id covers the digest: ``stacks.engine.trained_revision``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def tree_digest(folder: Path) -> tuple[str, int]:
    """``sha256:...`` over every regular file under ``folder`` (relative path, size and bytes, in path order),
    and how many files; links are not followed (a link out of the folder is not part of the artifact)."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    for p in files:
        rel = p.relative_to(folder).as_posix()
        h.update(f"{rel}\0{p.stat().st_size}\0".encode())
        with open(p, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
    return "sha256:" + h.hexdigest(), len(files)


def trained_artifact(outputs: list[str], out_dir: Path) -> dict[str, Any] | None:
    """What a workflow run trained: None unless the workflow outputs a model and wrote files for it (a run that
    publishes its weights elsewhere and writes nothing here has no artifact modelplane can roll out: the rollout
    that waits for one says so, ``runtime.temporal.workflows.EndpointRolloutWorkflow._revision``)."""
    models = sorted({o for o in outputs if o.startswith("model/")})
    if not models:
        return None
    digest, files = tree_digest(out_dir)
    if files == 0:
        return None
    return {"digest": digest, "path": os.fspath(out_dir), "model": models[0], "files": files}
