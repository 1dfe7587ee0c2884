"""How ``modelplane show NODE`` prints a node's history (``runtime/state/node_history.py`` makes it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown
from modelplane.compiler.report.terminal import safe
from modelplane.compiler.report.words import plural
from modelplane.runtime.state.node_history import metrics_summary, rollout_summary, run_summary, verdict_summary

if TYPE_CHECKING:
    from modelplane.runtime.state.node_history import Apply, NodeHistory, Run


def show_json(h: NodeHistory) -> str:
    return json.dumps(h, indent=2, sort_keys=True, default=str)


def _when(a: Apply) -> str:
    return a["when"].replace("T", " ").replace("Z", " UTC")


def _by(a: Apply) -> str:
    plan = f", plan {a['plan_id']}" if a["plan_id"] and a["plan_id"] != a["apply_id"] else ""
    who = f", by {a['who']}" if a["who"] else ""
    return f"apply {a['apply_id']}{plan}{who}"


def _run_line(r: Run) -> str:
    return f"{_when(r)}  {r['action_id']}  {r['status']}  {safe(run_summary(r))}  ({_by(r)})"


def show_text(h: NodeHistory) -> str:
    state = "applied" if h["exists"] else "deleted"
    lines = [f"{h['id']} in {h['environment']} ({state}; {plural(len(h['versions']), 'version')})", "", "Versions"]
    for v in h["versions"]:
        label = v["version"] or f"#{v['digest']}" if v["op"] != "delete" else "deleted"
        changed = ", ".join(v["changed"])
        lines.append(f"  {_when(v)}  {label:<12} {safe(changed)}  ({_by(v)})")
    if "artifacts" in h:
        lines += ["", "Artifacts"]
        for a in h["artifacts"]:
            trained = f" trained {a['digest'][:19]}" if a["digest"] else ""  # a retrain: its weights' digest
            lines.append(
                f"  {a['version'] or '-'}  {safe(a['artifact'] or '')}{trained}  registered {_when(a)} ({_by(a)})"
            )
            for r in a["produced_by"]:
                lines.append(f"    produced by {_run_line(r)}")
            for r in a["evaluations"]:
                lines.append(f"    evaluated   {_run_line(r)}")
    if "rollouts" in h:
        lines += ["", "Rollouts"]
        for ro in h["rollouts"]:
            lines.append(f"  {_when(ro)}  {safe(rollout_summary(ro))}  ({_by(ro)})")
            if ro["reason"]:
                lines.append(f"    reason: {safe(str(ro['reason']).splitlines()[0])}")
            lines += [f"    {safe(verdict_summary(v))}" for v in ro["verdicts"]]
        weights = ", ".join(f"{rev} {w}%" for rev, w in h.get("weights", {}).items())
        lines.append(f"  current weights: {weights or 'none recorded'}")
    if "metrics" in h:
        lines += ["", "Metrics per run"]
        lines += [
            f"  {_when(r)}  {r['status']}  {safe(metrics_summary(r['output']))}  ({_by(r)})" for r in h["metrics"]
        ]
    others = [r for r in h["runs"] if r["type"] not in ("evaluate",)] if "metrics" in h else h["runs"]
    if others:
        lines += ["", "Runs"]
        lines += [f"  {_run_line(r)}" for r in others]
    if h.get("outputs"):
        lines += ["", "Outputs", *(f"  {k}: {safe(json.dumps(v))}" for k, v in sorted(h["outputs"].items()))]
    return "\n".join(lines) + "\n"


def show_view(h: NodeHistory, fmt: Format) -> Shown:
    return Shown(show_json(h) + "\n" if fmt == Format.json else show_text(h))
