"""An action's outcome survives a state store that is down when the action finishes (issue 30, item 6).

Before: the effect ran, the ledger write failed (PostgreSQL down), the activity failed, and its retry
found the ledger entry still ``running`` and ran the command again. Now the outcome goes first to a
local journal file (``.modelplane/journal/``, 0600, written atomically), then to the ledger, which is
retried inside the activity with backoff (heartbeating) for up to ``WRITE_FOR_S``; an attempt that
finds a journal entry for its key finishes the ledger write from it instead of running the action.
The journal entry is removed once the ledger holds the outcome.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity

from modelplane.files import atomic_write
from modelplane.runtime.state.ports import EffectWrites

T = TypeVar("T")

WRITE_FOR_S = 300.0
"""How long a ledger write is retried inside one attempt (the journal keeps the outcome after that)."""


@dataclass(frozen=True)
class Outcome:
    output: dict[str, Any]
    writes: EffectWrites


def path(root: Path, key: str) -> Path:
    return root / ".modelplane" / "journal" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def write(where: Path, key: str, outcome: Outcome) -> None:
    w = outcome.writes
    doc = {
        "key": key,
        "output": outcome.output,
        "outputs": w.outputs,
        "catalog": list(w.catalog) if w.catalog is not None else None,
        "notification": list(w.notification) if w.notification is not None else None,
    }
    atomic_write(where, json.dumps(doc, sort_keys=True).encode())


def read(where: Path, key: str) -> Outcome | None:
    """The outcome journalled for ``key`` (None: none, or a file that is not this key's)."""
    try:
        doc = json.loads(where.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    cat, note = doc.get("catalog"), doc.get("notification")
    writes = EffectWrites(
        outputs=dict(doc.get("outputs") or {}),
        catalog=(str(cat[0]), cat[1], dict(cat[2])) if cat else None,
        notification=(str(note[0]), str(note[1]), dict(note[2])) if note else None,
    )
    return Outcome(dict(doc.get("output") or {}), writes)


def clear(where: Path) -> None:
    where.unlink(missing_ok=True)


async def retrying(call: Callable[[], T], doing: str, for_s: float = WRITE_FOR_S) -> T:
    """``call()`` until it succeeds, with backoff (0.5 s doubling to 15 s), heartbeating meanwhile; its last
    error once ``for_s`` has passed."""
    deadline = time.monotonic() + for_s
    delay = 0.5
    while True:
        try:
            return call()
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                raise
            activity.logger.warning("%s failed (%s); retrying in %.1f s", doing, exc, delay)
        end = time.monotonic() + delay
        while time.monotonic() < end:  # heartbeat through the wait: the activity is alive, only waiting
            activity.heartbeat()
            await asyncio.sleep(min(1.0, end - time.monotonic()))
        delay = min(delay * 2, 15.0)
