"""How ``modelplane show NODE`` prints a node's history (``runtime/state/node_history.py`` makes it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from modelplane.compiler.report.terminal import safe

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


def _metrics(output: dict[str, Any]) -> str:
    metrics = output.get("metrics") or {}
    shown = " ".join(f"{k}={v}" for k, v in sorted(metrics.items()))
    failed = output.get("failed") or []
    verdict = f"FAILED ({'; '.join(failed)})" if failed else "passed"
    return f"{shown} {verdict}".strip() if metrics or failed else ""


def _run_line(r: Run) -> str:
    out = r["output"]
    detail = ""
    if r["type"] == "evaluate":
        detail = _metrics(out)
    elif r["type"] == "run-workflow":
        inputs = ", ".join(f"{i['id']}@{i['version'] or '#' + (i['digest'] or '?')}" for i in r.get("inputs", []))
        detail = f"exit {out.get('exit_code', '?')}" + (f"; inputs {inputs}" if inputs else "")
    elif r["type"] == "register" and out.get("version"):
        detail = f"version {out['version']}"
    elif r["type"] == "rollout":
        detail = str(out.get("revision") or "")
    if r["status"] == "failed" and out.get("error"):
        detail = (detail + "; " if detail else "") + str(out["error"]).splitlines()[0]
    return f"{_when(r)}  {r['action_id']}  {r['status']}  {safe(detail)}  ({_by(r)})"


def show_text(h: NodeHistory) -> str:
    state = "applied" if h["exists"] else "deleted"
    lines = [f"{h['id']} in {h['environment']} ({state}; {len(h['versions'])} version(s))", "", "Versions"]
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
            model = f" (model {ro['model_version']})" if ro["model_version"] else ""
            how = "first deployment" if ro["first"] else "rolled back" if ro["rolled_back"] else ro["status"]
            since = f" from {ro['previous']}" if ro["previous"] else ""
            if ro["artifact"]:
                model += f" (trained {ro['artifact'][:19]})"
            lines.append(f"  {_when(ro)}  {ro['revision'] or '?'}{model}{since}: {how}  ({_by(ro)})")
            if ro["reason"]:
                lines.append(f"    reason: {safe(str(ro['reason']).splitlines()[0])}")
            for verdict in ro["verdicts"]:
                step = verdict.get("step")
                where = f"step {step + 1} " if isinstance(step, int) else ""
                lines.append(
                    f"    {where}{verdict.get('weight', '?')}%: {verdict.get('result', '?')} "
                    f"({verdict.get('gate', '?')}) {safe(str(verdict.get('reason', '')))}"
                )
        weights = ", ".join(f"{rev} {w}%" for rev, w in h.get("weights", {}).items())
        lines.append(f"  current weights: {weights or 'none recorded'}")
    if "metrics" in h:
        lines += ["", "Metrics per run"]
        lines += [f"  {_when(r)}  {r['status']}  {safe(_metrics(r['output']))}  ({_by(r)})" for r in h["metrics"]]
    others = [r for r in h["runs"] if r["type"] not in ("evaluate",)] if "metrics" in h else h["runs"]
    if others:
        lines += ["", "Runs"]
        lines += [f"  {_run_line(r)}" for r in others]
    if h.get("outputs"):
        lines += ["", "Outputs", *(f"  {k}: {safe(json.dumps(v))}" for k, v in sorted(h["outputs"].items()))]
    return "\n".join(lines) + "\n"
