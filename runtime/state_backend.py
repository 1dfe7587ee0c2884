"""The state store's interface, and ``open_store``, which picks SQLite or PostgreSQL.

Callers depend on these Protocols, never on a backend class: ``StateReader``
for plans and ``status``/``history``, ``StateWriter`` and ``StateLedger`` for
the activities that make effects, ``StateAdmin`` for ``modelplane state``.
``runtime/state_store.py`` (SQLite, the default) and ``runtime/state_pg.py``
(PostgreSQL, for teams) both implement ``Store``; the same test suite runs
against both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from modelplane.compiler.state import AppliedState
from modelplane.runtime.state_store import AuditEntry, HistoryEntry, LedgerEntry, LockHolder, StateStore
from modelplane.runtime.state_url import StateTarget, resolve
from modelplane.specs.project import StateSettings


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
    def lock_holder(self, environment: str) -> LockHolder | None: ...
    def audit(self, environment: str | None = None) -> list[AuditEntry]: ...


class StateWriter(Protocol):
    """The snapshot, the apply history and the lock row: each call one transaction."""

    def record(
        self,
        environment: str,
        apply_id: str,
        upserts: Sequence[tuple[str, str, str, int, dict[str, Any]]] = (),
        deletes: Sequence[str] = (),
        done: Sequence[str] = (),
        pending: Sequence[tuple[str, str, str, str]] = (),
    ) -> int: ...
    def history_begin(
        self, apply_id: str, environment: str, plan_id: str, workflow_id: str, requested_by: str
    ) -> None: ...
    def history_end(
        self, apply_id: str, outcome: str, summary: dict[str, Any], failures: dict[str, str] | None = None
    ) -> None: ...
    def lock_acquire(self, environment: str, apply_id: str, holder: str, location: str) -> LockHolder: ...
    def lock_release(self, environment: str, apply_id: str) -> bool: ...


class StateLedger(Protocol):
    """The idempotency ledger: an effect is begun, then done (with what it wrote) or failed."""

    def ledger_begin(self, key: str, environment: str, apply_id: str, action_id: str) -> LedgerEntry: ...
    def ledger_done(
        self,
        key: str,
        result: dict[str, Any],
        *,
        environment: str,
        apply_id: str,
        outputs: dict[str, dict[str, Any]] | None = None,
        catalog: tuple[str, str | None, dict[str, Any]] | None = None,
        notification: tuple[str, str, dict[str, Any]] | None = None,
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


def open_target(target: StateTarget) -> Store:
    if target.backend == "sqlite":
        assert target.path is not None
        return StateStore(target.path)
    from modelplane.runtime.state_pg import PostgresStore  # psycopg is imported only by those who need it

    assert target.url is not None
    return PostgresStore(target.url, target.password)


def open_store(root: Path, state: StateSettings, environ: Mapping[str, str] | None = None) -> Store:
    """The store one environment's settings name (``MODELPLANE_STATE_URL`` wins), created or migrated."""
    return open_target(resolve(root, state, environ))


def existing_store(root: Path, state: StateSettings) -> Store | None:
    """The store, or None while a SQLite file does not exist yet (planning never creates it)."""
    target = resolve(root, state)
    if target.backend == "sqlite" and not (target.path and target.path.exists()):
        return None
    return open_target(target)
