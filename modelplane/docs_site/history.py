"""Each node's history as the explorer's timeline shows it: the same history ``modelplane show`` prints.

The history itself is ``runtime/state/node_history.py``'s (versions applied, a model's artifacts with the
runs that produced them, metrics per run, an endpoint's rollouts and verdicts); this module only flattens a
``NodeHistory`` into the timeline's events, oldest first, each a JSON-able dict
``{"at": epoch seconds, "type": ..., "title": ..., "detail": {...}, "lines": [...]}`` (``detail``: the
apply, plan, who and version the page lists under the title; ``lines``: what ``show`` indents under it).
The one-line summaries are ``node_history``'s too, so the page and the terminal say the same thing.
"""

from __future__ import annotations

from typing import Any

from modelplane.runtime.state.node_history import (
    Apply,
    HistorySource,
    NodeHistory,
    histories,
    rollout_summary,
    run_summary,
    verdict_summary,
)

Event = dict[str, Any]


def node_histories(store: HistorySource, environment: str) -> dict[str, list[Event]]:
    """Every applied node's timeline in ``environment``, reading the store once (``histories``)."""
    return {node: timeline(h) for node, h in histories(store, environment).items()}


def _event(a: Apply, type_: str, title: str, lines: list[str] | None = None, version: str | None = None) -> Event:
    detail = {"apply": a["apply_id"], "plan": a["plan_id"], "by": a["who"], "version": version}
    return {"at": a["at"], "type": type_, "title": title, "detail": detail, "lines": lines or []}


def timeline(h: NodeHistory) -> list[Event]:
    """``h`` as events: each version applied, each artifact registered (with the runs that produced and
    evaluated it), each rollout (with its verdicts and the weights it left) and every other run."""
    events: list[Event] = []
    for v in h["versions"]:
        if v["op"] == "delete":
            events.append(_event(v, "deleted", "deleted"))
            continue
        label = f"version {v['version']}" if v["version"] else f"#{v['digest']}"
        what = "created" if v["changed"] == ["created"] else "changed " + ", ".join(v["changed"])
        events.append(_event(v, "applied", f"applied {label} ({what})", version=v["version"]))
    for art in h.get("artifacts", []):
        lines = [f"produced by {r['action_id']} {r['status']}: {run_summary(r)}" for r in art["produced_by"]]
        lines += [f"evaluated by {r['action_id']} {r['status']}: {run_summary(r)}" for r in art["evaluations"]]
        title = f"registered version {art['version']}" if art["version"] else "registered"
        events.append(_event(art, "registered", title, [*([art["artifact"]] if art["artifact"] else []), *lines]))
    for ro in h.get("rollouts", []):
        lines = ([f"reason: {str(ro['reason']).splitlines()[0]}"] if ro["reason"] else []) + [
            verdict_summary(v) for v in ro["verdicts"]
        ]
        weights = ", ".join(f"{rev} {w}%" for rev, w in ro["weights"].items())
        events.append(_event(ro, "rollout", f"rollout {rollout_summary(ro)}", [*lines, f"weights: {weights or '-'}"]))
    for r in h["runs"]:
        if r["type"] == "rollout" and "rollouts" in h:
            continue  # told above, with its verdicts
        summary = run_summary(r)
        events.append(_event(r, r["type"], f"{r['action_id']} {r['status']}" + (f": {summary}" if summary else "")))
    events.sort(key=lambda e: float(e["at"] or 0.0))  # stable: a version before the runs of its apply
    return events
