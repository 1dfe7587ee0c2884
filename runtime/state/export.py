"""``modelplane state export / import / migrate``: the whole store as one versioned JSON document.

The document lists every table in a fixed order and every row in the store's
own order (primary key, else the order rows were written), with the JSON the
store keeps in text columns decoded, so two stores that hold the same state
export byte-identical documents whatever their backend. That equality is what
``migrate`` checks after copying, and what makes running it twice safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelplane.errors import ModelplaneError
from modelplane.runtime.state.ports import JSON_COLUMNS, TABLES, Store
from modelplane.runtime.state.sqlite import SCHEMA_VERSION

FORMAT = "modelplane-state"
FORMAT_VERSION = 1

_NUMBERS = frozenset({"applied_at", "at", "registered_at", "started_at", "finished_at", "since"})
_INTEGERS = frozenset({"serial", "idx", "attempts"})
_NULLABLE = frozenset(
    {("catalog", "version"), ("ledger", "result"), ("ledger", "finished_at"), ("node_versions", "data")}
)


def export_document(store: Store) -> dict[str, Any]:
    tables = store.dump()
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "schema_version": store.schema_version(),
        "tables": {table: [_row_out(table, row) for row in tables[table]] for table in TABLES},
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _row_out(table: str, row: tuple[Any, ...]) -> dict[str, Any]:
    columns = TABLES[table][0]
    return {
        c: json.loads(v) if (table, c) in JSON_COLUMNS and v is not None else v
        for c, v in zip(columns, row, strict=True)
    }


def parse_document(text: str, source: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of an exported document, checked column by column; errors name the table and row."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ModelplaneError(
            f"{source}: not JSON ({exc})", hint="pass a file written by `modelplane state export`"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelplaneError(
            f'{source}: not a modelplane state export (expected "format": "{FORMAT}")',
            hint="pass a file written by `modelplane state export`",
        )
    if doc.get("version") != FORMAT_VERSION:
        raise ModelplaneError(
            f"{source}: export format version {doc.get('version')!r}; this modelplane reads version {FORMAT_VERSION}",
            hint="export and import with the same modelplane version",
        )
    schema = doc.get("schema_version")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise ModelplaneError(
            f"{source}: the state has schema version {schema!r}; this modelplane knows up to {SCHEMA_VERSION}",
            hint="upgrade modelplane (pip install -U modelplane)",
        )
    tables = doc.get("tables")
    if not isinstance(tables, dict):
        raise ModelplaneError(f'{source}: "tables" must be an object of table name -> rows')
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ModelplaneError(f"{source}: unknown table `{unknown[0]}`", hint=f"known tables: {', '.join(TABLES)}")
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, rows in tables.items():
        if not isinstance(rows, list):
            raise ModelplaneError(f"{source}: tables.{table} must be a list of rows")
        out[table] = [_row_in(table, i, row, source) for i, row in enumerate(rows)]
    return out


def _row_in(table: str, i: int, row: Any, source: str) -> tuple[Any, ...]:
    columns = TABLES[table][0]
    where = f"{source}: tables.{table}[{i}]"
    if not isinstance(row, dict):
        raise ModelplaneError(f"{where} must be an object of column -> value")
    extra = sorted(set(row) - set(columns))
    if extra:
        raise ModelplaneError(f"{where}: unknown column `{extra[0]}`", hint=f"columns: {', '.join(columns)}")
    values: list[Any] = []
    for column in columns:
        if column not in row:
            raise ModelplaneError(f"{where}: missing column `{column}`", hint=f"columns: {', '.join(columns)}")
        value = row[column]
        if value is None and (table, column) in _NULLABLE:
            values.append(None)
        elif (table, column) in JSON_COLUMNS:
            values.append(json.dumps(value))  # loads kept the key order, so this is the text that was exported
        elif not _fits(column, value):
            raise ModelplaneError(f"{where}.{column}: expected {_expected(column)}, got {json.dumps(value)[:60]}")
        else:
            values.append(value)
    return tuple(values)


def _fits(column: str, value: Any) -> bool:
    if column in _INTEGERS:
        return isinstance(value, int) and not isinstance(value, bool)
    if column in _NUMBERS:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _expected(column: str) -> str:
    return "an integer" if column in _INTEGERS else "a number" if column in _NUMBERS else "text"


def import_rows(store: Store, rows: dict[str, list[tuple[Any, ...]]], force: bool) -> int:
    """Load into an empty store (or replace everything with ``force``); returns the number of rows."""
    if not force and not store.is_empty():
        raise ModelplaneError(
            f"the state store {store.describe()} is not empty; importing would mix two states",
            hint="import into an empty store, or pass --force to replace everything it holds",
        )
    store.load(rows, replace=True)
    return sum(len(r) for r in rows.values())


@dataclass(frozen=True)
class Migrated:
    rows: int
    copied: bool
    """False when the target already held exactly the source's state (a second run)."""


def migrate(source: Store, target: Store, force: bool = False) -> Migrated:
    """Copy ``source`` into ``target`` and check that both now export the same document."""
    running = [h for h in source.history(limit=1_000_000) if h.outcome == "running"]
    if running and not force:
        h = running[0]
        raise ModelplaneError(
            f"apply {h.apply_id} on {h.environment} has not finished in {source.describe()}; a copy taken now "
            "would miss what it writes next",
            hint=f"wait for it (`modelplane status --env {h.environment}`), or pass --force to copy anyway",
        )
    want = export_document(source)
    rows = sum(len(r) for r in want["tables"].values())
    if not target.is_empty():
        if export_document(target) == want:
            return Migrated(rows, copied=False)
        if not force:
            raise ModelplaneError(
                f"the state store {target.describe()} already holds a different state",
                hint="point --to at an empty database, or pass --force to replace what it holds",
            )
    target.load(source.dump(), replace=True)
    got = export_document(target)
    if got != want:
        differ = [t for t in TABLES if got["tables"][t] != want["tables"][t]]
        raise ModelplaneError(
            f"the copy in {target.describe()} does not match {source.describe()} (tables: {', '.join(differ)})",
            hint="the source was left as it was; report this as a bug with both exports attached",
        )
    return Migrated(rows, copied=True)
