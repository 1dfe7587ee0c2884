"""How an environment's state looks when no apply runs: serial, nodes, pending work, outputs, last apply."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modelplane.cli.views.history import counts, when

if TYPE_CHECKING:
    from modelplane.workspace import StateSummary


def state_json(summary: StateSummary) -> str:
    applied, h = summary.applied, summary.last
    doc = {
        "running": False,
        "environment": summary.environment,
        "serial": applied.serial,
        "nodes": len(applied.nodes),
        "pending": {k: vars(v) for k, v in applied.pending.items()},
        "outputs": summary.outputs,
        "last_apply": vars(h) if h else None,
    }
    return json.dumps(doc, indent=2, default=str)


def state_lines(summary: StateSummary, project: str) -> list[tuple[str, str | None]]:
    """The text form, a line and its style (None: plain) each, for a rich console."""
    applied, h = summary.applied, summary.last
    out: list[tuple[str, str | None]] = [
        (
            f"{project}/{summary.environment}: no apply running; state serial {applied.serial}, "
            f"{len(applied.nodes)} node(s) applied",
            None,
        )
    ]
    if h is not None:
        line = f"last apply {h.apply_id}: {h.outcome}, {when(h.started_at)} by {h.requested_by} {counts(h.summary)}"
        out.append((line, None))
    out += [(f"  pending {aid}: {p.reason}", "yellow") for aid, p in applied.pending.items()]
    out += [(f"  {nid}: {json.dumps(o, sort_keys=True)}", None) for nid, o in summary.outputs.items()]
    return out
