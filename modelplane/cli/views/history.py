"""How past applies look: one line each (when, apply id, plan id, outcome, who, how long, counts) and their
failures; or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown

if TYPE_CHECKING:
    from modelplane.runtime.state.ports import HistoryEntry


def counts(summary: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{v} {k}" for k, v in sorted(summary.items())) + ")" if summary else ""


def when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def history_json(rows: list[HistoryEntry]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def history_text(rows: list[HistoryEntry], where: str) -> str:
    if not rows:
        return f"no applies on {where} yet\n"
    out = []
    for h in rows:
        took = f" in {h.finished_at - h.started_at:.1f}s" if h.finished_at else ""
        plan = f"plan {h.plan_id or '-'}"
        out.append(
            f"{when(h.started_at)}  {h.apply_id}  {plan}  {h.outcome:<9} {h.requested_by}{took} {counts(h.summary)}"
        )
        out += [f"    ✗ {aid}: {why.splitlines()[0] if why else ''}" for aid, why in h.failures.items()]
    return "\n".join(out) + "\n"


def history_view(rows: list[HistoryEntry], where: str, fmt: Format) -> Shown:
    return Shown(history_json(rows) + "\n" if fmt == Format.json else history_text(rows, where))
