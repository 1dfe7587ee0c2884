"""Each node's history, as the explorer's timeline shows it: what the state store recorded about it.

The one call the site makes is ``node_histories(store, environment)``: node id -> its events, oldest
first, each a JSON-able dict ``{"at": epoch seconds, "type": ..., "title": ..., "detail": {...}}``.
``modelplane show NODE`` (issue 32, item 3) owns the fuller history (runs and their inputs' versions,
metrics per run, rollout verdicts); when it lands, this module should return its events instead, and
the site needs no change as long as each event keeps those four keys.

Read from the store's own export (``dump``): the same rows on SQLite and PostgreSQL, one query per
table, whatever the number of nodes.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from modelplane.runtime.state.ports import TABLES

Event = dict[str, Any]


class Dumps(Protocol):
    def dump(self) -> dict[str, list[tuple[Any, ...]]]: ...


def _rows(tables: dict[str, list[tuple[Any, ...]]], table: str) -> list[dict[str, Any]]:
    columns = TABLES[table][0]
    return [dict(zip(columns, row, strict=True)) for row in tables.get(table, [])]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def node_histories(store: Dumps, environment: str) -> dict[str, list[Event]]:
    """Every recorded event per node id in ``environment``: applies that changed it (with plan id, who
    and outcome), registrations (model artifacts, versions), and each action that ran on it."""
    tables = store.dump()
    applies = {r["apply_id"]: r for r in _rows(tables, "history") if r["environment"] == environment}
    out: dict[str, list[Event]] = {}

    def add(node: str, event: Event) -> None:
        out.setdefault(node, []).append(event)

    for row in _rows(tables, "changes"):
        if row["environment"] != environment or str(row["what"]).startswith("action "):
            continue  # an action's pending row set or cleared: the ledger below tells of the action itself
        run = applies.get(row["apply_id"], {})
        add(
            row["what"],
            {
                "at": row["at"],
                "type": "applied",
                "title": f"applied at serial {row['serial']}",
                "detail": {
                    "apply": row["apply_id"],
                    "plan": run.get("plan_id"),
                    "by": run.get("requested_by"),
                    "outcome": run.get("outcome"),
                    "serial": row["serial"],
                },
            },
        )
    for row in _rows(tables, "catalog"):
        if row["environment"] != environment:
            continue
        version = row["version"]
        add(
            row["id"],
            {
                "at": row["registered_at"],
                "type": "registered",
                "title": f"registered version {version}" if version else "registered",
                "detail": {"apply": row["apply_id"], "version": version},
            },
        )
    for row in _rows(tables, "ledger"):
        if row["environment"] != environment or row["status"] not in ("done", "failed"):
            continue
        action = str(row["action_id"])
        kind, _, target = action.partition(":")
        if not target:
            continue
        result = _json(row["result"])
        add(
            target,
            {
                "at": row["finished_at"] or row["started_at"],
                "type": kind,
                "title": f"{kind} {row['status']}"
                + (f" after {row['attempts']} attempts" if row["attempts"] > 1 else ""),
                "detail": {"apply": row["apply_id"], "result": result},
            },
        )
    for events in out.values():
        events.sort(key=lambda e: (e["at"] or 0.0, e["type"]))
    return out
