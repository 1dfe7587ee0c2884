"""Read-only view of the applied state, as the planner needs it.

The planner only reads: which documents were applied in an environment and
the state serial they carry. The store that writes them lives in the runtime
(``modelplane.runtime.state``: SQLite or PostgreSQL) and implements ``StateReader``; with no store
yet, ``EmptyState`` means everything is to be created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class AppliedNode:
    kind: str
    file: str
    index: int
    data: dict[str, Any]


@dataclass(frozen=True)
class PendingAction:
    """An action an earlier apply did not finish (failed, skipped or aborted): the next plan carries it."""

    type: str
    target: str
    reason: str


@dataclass(frozen=True)
class AppliedState:
    serial: int
    """Increases with every action an apply records; a plan remembers the serial it saw."""
    nodes: dict[str, AppliedNode] = field(default_factory=dict)
    """By ``kind/name``."""
    pending: dict[str, PendingAction] = field(default_factory=dict)
    """By action id (``type:target``)."""


class StateReader(Protocol):
    def applied(self, environment: str) -> AppliedState: ...


class EmptyState:
    """Nothing applied yet."""

    def applied(self, environment: str) -> AppliedState:
        return AppliedState(serial=0)
