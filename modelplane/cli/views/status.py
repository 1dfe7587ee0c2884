"""How ``status`` looks: the running apply's header and whether it is paused, or (none running) the state:
serial, nodes, pending work, the stacks' outputs as ``key: value`` lines, the last apply, the local endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelplane.cli.views.history import counts, when
from modelplane.compiler.report.terminal import safe_line
from modelplane.compiler.report.words import plural

if TYPE_CHECKING:
    from modelplane.runtime.apply import Running
    from modelplane.runtime.local.observe import LocalEndpoint
    from modelplane.runtime.temporal.messages import Progress
    from modelplane.workspace import StateSummary

Line = tuple[str, str | None]
"""A line and its style (None: plain), for a rich console."""


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


def running_json(running: Running, progress: Progress) -> str:
    return json.dumps({"running": True, "apply": vars(running), "progress": progress.model_dump(mode="json")}, indent=2)


def _flat(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """An output as ``(key, value)`` pairs: nested objects by dotted keys, lists as comma-separated values."""
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for k in sorted(value):
            pairs += _flat(value[k], f"{prefix}.{k}" if prefix else str(k))
        return pairs or [(prefix, "(none)")]
    if isinstance(value, list):
        shown = ", ".join(v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in value)
        return [(prefix, shown or "(none)")]
    return [(prefix, value if isinstance(value, str) else json.dumps(value))]


def output_lines(outputs: dict[str, dict[str, Any]]) -> list[str]:
    """Each node's outputs as readable ``key: value`` lines under the node (never a JSON blob)."""
    out = []
    for nid, values in sorted(outputs.items()):
        out.append(f"  {safe_line(nid)} outputs:")
        out += [f"    {safe_line(k)}: {safe_line(v)}" for k, v in _flat(values)]
    return out


def state_lines(summary: StateSummary, project: str) -> list[Line]:
    """The text form when no apply runs."""
    applied, h = summary.applied, summary.last
    out: list[Line] = [
        (
            f"{project}/{summary.environment}: no apply running; state serial {applied.serial}, "
            f"{plural(len(applied.nodes), 'node')} applied",
            None,
        )
    ]
    if h is not None:
        line = (
            f"last apply {h.apply_id} (plan {h.plan_id}): {h.outcome}, {when(h.started_at)} by {h.requested_by} "
            f"{counts(h.summary)}"
        )
        out.append((line.rstrip(), None))
    out += [(f"  pending {aid}: {p.reason}", "yellow") for aid, p in applied.pending.items()]
    out += [(line, None) for line in output_lines(summary.outputs)]
    return out


def running_header(running: Running, project: str, environment: str) -> str:
    # whoever started it, from whichever checkout: the lock and the apply are the service's
    return (
        f"{project}/{environment}: apply of plan {running.plan_id} running, started {running.started} by "
        f"{running.requested_by} from {running.checkout}"
    )


def paused_lines(p: Progress) -> list[str]:
    """Why a running apply makes no progress and the command that lets it go on: paused by ``modelplane pause``,
    or rollouts waiting at a manual gate for ``modelplane approve``."""
    env = p.environment
    out = []
    if p.state == "paused":
        out.append(
            f"apply {p.apply_id} is paused (`modelplane pause`): running actions finish, no new ones start; "
            f"run `modelplane resume --env {env}` to go on"
        )
    for g in p.gates:
        why = f" ({g.reason})" if g.reason else ""
        out.append(
            f"apply {p.apply_id} is paused at the manual gate of {g.target} step {g.step + 1}{why}: run "
            f"`modelplane approve {g.target} --env {env}` to go on (or `modelplane abort --env {env}`)"
        )
    return out


def local_endpoint_lines(endpoints: list[LocalEndpoint]) -> list[str]:
    """Routers, revisions, weights, replicas and their health, as the routers see them."""
    out = []
    for ep in endpoints:
        reg, live = ep.registry, ep.live
        router = reg.router
        where = f"router {router.url} ({reg.policy})" if router else "no router"
        out.append(f"endpoint/{reg.endpoint}: {where}" + ("" if live or not router else "  [router DOWN]"))
        for name, rev in reg.revisions.items():
            weight = live.get("weights", {}).get(name, rev.weight)
            out.append(f"  {name} {rev.role:<8} weight {weight:>3}%  {rev.model}  engine {rev.engine}")
            health = {b["pid"]: b for b in live.get("revisions", {}).get(name, [])}
            for rep in rev.replicas:
                h = health.get(rep.pid)
                state = "healthy" if h and h["healthy"] else "unhealthy" if h else "unknown"
                if rep.draining:
                    state = "draining"
                elif not rep.ready:
                    state = "starting"
                inflight = f", {h['inflight']} in flight" if h else ""
                out.append(f"    replica pid {rep.pid} {rep.url}  {state}{inflight}")
        if reg.autoscaling is not None and reg.autoscaler is not None:
            a = reg.autoscaling
            out.append(
                f"  autoscaler pid {reg.autoscaler.pid}: {a.metric}, target {a.target:g} per replica, "
                f"{a.min_replicas}..{a.max_replicas} replicas"
            )
        for e in reg.scaling[-3:]:
            at = datetime.fromtimestamp(e.at, UTC).strftime("%H:%M:%S")
            out.append(f"    {at} {e.revision}: {e.replicas_from} -> {plural(e.replicas_to, 'replica')} ({e.reason})")
    return out
