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
    """One node as the last apply recorded it: its kind, file, document index and normalized document."""

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
class TrainedArtifact:
    """The weights a workflow run trained for a model and a later action registered (``register`` after
    ``run-workflow`` in one apply): what the model's endpoints serve while its spec stays the same."""

    digest: str
    """``sha256:...`` of the run's output folder (``runtime.executors.artifacts``)."""
    path: str
    """Where the run wrote it (its output folder)."""
    model_spec: str
    """``spec_hash`` of the model spec it was trained for: a changed spec (a version bump) no longer serves it."""
    apply_id: str = ""


@dataclass(frozen=True)
class AppliedState:
    """What an environment's state says is deployed, and what an earlier apply left to do."""

    serial: int
    """Increases with every action an apply records; a plan remembers the serial it saw."""
    nodes: dict[str, AppliedNode] = field(default_factory=dict)
    """By ``kind/name``."""
    pending: dict[str, PendingAction] = field(default_factory=dict)
    """By action id (``type:target``)."""
    artifacts: dict[str, TrainedArtifact] = field(default_factory=dict)
    """By model id: the last artifact a retrain registered for it."""
    served: dict[str, str] = field(default_factory=dict)
    """By endpoint id: the digest of the trained artifact its last successful rollout serves (absent: the
    model's declared artifact). Differs from ``artifacts`` after a retrain whose rollout did not happen."""


class StateReader(Protocol):
    def applied(self, environment: str) -> AppliedState: ...


class EmptyState:
    """Nothing applied yet."""

    def applied(self, environment: str) -> AppliedState:
        return AppliedState(serial=0)
