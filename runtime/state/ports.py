"""What the state store offers, as Protocols, and the records it returns.

Callers depend on these, never on a backend class: ``StateReader`` for plans and
``status``/``history``, ``StateWriter`` and ``StateLedger`` for the activities that make
effects, ``StateAdmin`` for ``modelplane state``. ``TABLES`` lists the schema both backends
keep (``sqlite.py`` and ``postgres.py`` hold their migrations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, Unpack

from modelplane.compiler.change.state import AppliedState

TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # table: (columns, primary key); an empty key means the rows keep their insertion order (rowid)
    "environments": (("environment", "serial"), ("environment",)),
    "nodes": (
        ("environment", "id", "kind", "file", "idx", "data", "serial", "apply_id", "applied_at"),
        ("environment", "id"),
    ),
    "changes": (("environment", "serial", "what", "apply_id", "at"), ()),
    "pending": (("environment", "action_id", "type", "target", "reason", "apply_id"), ("environment", "action_id")),
    "outputs": (("environment", "id", "data"), ("environment", "id")),
    "catalog": (("environment", "id", "version", "data", "apply_id", "registered_at"), ()),
    "notifications": (("environment", "apply_id", "owner", "message", "data", "at"), ()),
    "ledger": (
        ("key", "environment", "apply_id", "action_id", "status", "attempts", "result", "started_at", "finished_at"),
        (),  # keyed by `key`, but listed in the order the attempts began
    ),
    "history": (
        (
            "apply_id",
            "environment",
            "plan_id",
            "workflow_id",
            "requested_by",
            "started_at",
            "finished_at",
            "outcome",
            "summary",
            "failures",
        ),
        ("apply_id",),
    ),
    "locks": (("environment", "apply_id", "holder", "location", "since"), ("environment",)),
    "audit": (("environment", "at", "who", "action", "detail"), ()),
    "node_versions": (("environment", "id", "serial", "apply_id", "at", "op", "data"), ()),
    "runs": (("environment", "serial", "apply_id", "action_id", "type", "target", "status", "output", "at"), ()),
}
"""Every table and column the store holds: what ``state export`` writes and ``state import`` reads."""
JSON_COLUMNS = frozenset(
    {
        ("nodes", "data"),
        ("outputs", "data"),
        ("catalog", "data"),
        ("notifications", "data"),
        ("ledger", "result"),
        ("history", "summary"),
        ("history", "failures"),
        ("audit", "detail"),
        ("node_versions", "data"),
        ("runs", "output"),
    }
)


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    action_id: str
    status: str
    attempts: int
    result: dict[str, Any] | None


@dataclass(frozen=True)
class HistoryEntry:
    apply_id: str
    environment: str
    plan_id: str
    workflow_id: str
    requested_by: str
    started_at: float
    finished_at: float | None
    outcome: str
    summary: dict[str, Any]
    failures: dict[str, str]


NodeRow = tuple[str, str, str, int, dict[str, Any]]
"""A node as the snapshot keeps it: (id, kind, file, index in the file, the normalized document)."""
PendingRow = tuple[str, str, str, str]
"""An unfinished action: (action id, type, target, reason)."""
RunRow = tuple[str, str, str, str, dict[str, Any]]
"""A finished action and what it returned: (action id, type, target, status, output)."""


@dataclass(frozen=True)
class NodeVersion:
    """One version of a node as an apply recorded it (``data`` None: the node was deleted)."""

    id: str
    serial: int
    apply_id: str
    at: float
    op: str
    data: dict[str, Any] | None


@dataclass(frozen=True)
class RunRecord:
    """One finished action of an apply: a workflow run, an evaluation, a rollout, a registration..."""

    serial: int
    apply_id: str
    action_id: str
    type: str
    target: str
    status: str
    """``succeeded`` or ``failed``."""
    output: dict[str, Any]
    at: float


class SnapshotChange(TypedDict, total=False):
    """What one ``record`` call writes, all in one transaction; each part may be left out."""

    upserts: Sequence[NodeRow]
    deletes: Sequence[str]
    done: Sequence[str]
    """Action ids that finished: their pending rows go."""
    pending: Sequence[PendingRow]
    runs: Sequence[RunRow]
    """Actions that finished (succeeded or failed) with what they returned: each node's history."""
    moves: Sequence[tuple[str, str]]
    """Nodes renamed by a ``moved`` record, (old id, new id): their rows (and outputs) take the new id
    before the upserts, in the same transaction; an old row whose new id is there already is dropped."""


@dataclass(frozen=True)
class EffectWrites:
    """What a finished effect writes beside its ledger entry, in the same transaction."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Resource outputs by node id (endpoint URLs...)."""
    catalog: tuple[str, str | None, dict[str, Any]] | None = None
    """A registration: (node id, version, the node's document)."""
    notification: tuple[str, str, dict[str, Any]] | None = None
    """A message for an owner: (owner, message, data)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds an environment's lock row: an apply, a person, a machine and directory, a time."""

    environment: str
    apply_id: str
    holder: str
    location: str
    since: float


@dataclass(frozen=True)
class AuditEntry:
    environment: str
    at: float
    who: str
    action: str
    detail: dict[str, Any]


def unlock_detail(cleared: LockHolder | None, reason: str) -> dict[str, Any]:
    held = (
        {"apply_id": cleared.apply_id, "holder": cleared.holder, "location": cleared.location, "since": cleared.since}
        if cleared
        else None
    )
    return {"cleared": held, "reason": reason}


class StateReader(Protocol):
    """What plans, ``status`` and ``history`` read (a superset of the compiler's ``StateReader``)."""

    def serial(self, environment: str) -> int: ...
    def applied(self, environment: str) -> AppliedState: ...
    def changed_since(self, environment: str, serial: int) -> list[str]: ...
    def outputs(self, environment: str) -> dict[str, dict[str, Any]]: ...
    def catalog(self, environment: str) -> list[dict[str, Any]]: ...
    def notifications(self, environment: str, apply_id: str | None = None) -> list[dict[str, Any]]: ...
    def ledger(self, environment: str | None = None) -> list[LedgerEntry]: ...
    def history(self, environment: str | None = None, limit: int = 20) -> list[HistoryEntry]: ...
    def history_of(self, apply_id: str) -> HistoryEntry | None: ...
    def lock_holder(self, environment: str) -> LockHolder | None: ...
    def audit(self, environment: str | None = None) -> list[AuditEntry]: ...
    def node_versions(self, environment: str, node_id: str | None = None) -> list[NodeVersion]: ...
    def runs(self, environment: str, target: str | None = None) -> list[RunRecord]: ...


class StateWriter(Protocol):
    """The snapshot, the apply history and the lock row: each call one transaction."""

    def record(self, environment: str, apply_id: str, **change: Unpack[SnapshotChange]) -> int: ...
    def history_begin(
        self, apply_id: str, environment: str, plan_id: str, workflow_id: str, requested_by: str
    ) -> None: ...
    def history_end(
        self,
        apply_id: str,
        outcome: str,
        summary: dict[str, Any],
        failures: dict[str, str] | None = None,
        keep_intents: bool = False,
    ) -> None: ...
    def lock_acquire(self, environment: str, apply_id: str, holder: str, location: str) -> LockHolder: ...
    def lock_release(self, environment: str, apply_id: str) -> bool: ...


class StateLedger(Protocol):
    """The idempotency ledger: an effect is begun, then done (with what it wrote) or failed."""

    def ledger_begin(self, key: str, environment: str, apply_id: str, action_id: str) -> LedgerEntry: ...
    def ledger_done(
        self, key: str, result: dict[str, Any], *, environment: str, apply_id: str, writes: EffectWrites | None = None
    ) -> None: ...
    def ledger_failed(self, key: str, error: str) -> None: ...


class StateAdmin(Protocol):
    """Whole-store operations for ``modelplane state`` (export, import, migrate, unlock)."""

    def describe(self) -> str:
        """Where the store is, safe to print (a path, or a URL with the password masked)."""
        ...

    def store_id(self) -> str:
        """The store's own identity, made once when it was created (a new file or database has another)."""
        ...

    def next_apply_id(self) -> str: ...
    def mac_key(self) -> bytes:
        """The store's secret for plan and workflow-input MACs (``runtime.trust``), made with it."""
        ...

    def same_file(self) -> bool:
        """Whether what was opened is still what the settings name (a SQLite file moved aside is not)."""
        ...

    def schema_version(self) -> int: ...
    def dump(self) -> dict[str, list[tuple[Any, ...]]]: ...
    def load(self, tables: dict[str, list[tuple[Any, ...]]], replace: bool) -> None: ...
    def is_empty(self) -> bool: ...
    def force_unlock(self, environment: str, who: str, reason: str) -> LockHolder | None: ...
    def audit_add(self, environment: str, who: str, action: str, detail: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class Store(StateReader, StateWriter, StateLedger, StateAdmin, Protocol):
    """Everything a backend provides."""
