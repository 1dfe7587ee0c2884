"""Commands that read an environment: status (re-attaching to a running apply) and history."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from modelplane.cli.exit import guard
from modelplane.cli.follow import (
    FINAL,
    exit_code,
    follow_apply,
    make_console,
    query_progress,
    run_async,
)
from modelplane.cli.options import EnvOpt, Format, FormatOpt, ProjectOpt
from modelplane.cli.project import settings, workspace
from modelplane.cli.views.history import history_json, history_text
from modelplane.cli.views.status import state_json, state_lines


def status(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow a running apply until it ends.")] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """The running apply (re-attaching to it), or the applied state: serial, pending actions, last apply."""
    s = settings(project, env)
    raise typer.Exit(run_async(_status(s, watch, fmt)))


async def _status(s: Any, watch: bool, fmt: Format) -> int:
    from modelplane.workspace import Workspace

    ws = Workspace.of(s)
    found = await ws.running()
    if found is not None:
        running, handle = found
        if fmt == Format.json:
            p = await query_progress(handle)
            print(
                json.dumps({"running": True, "apply": vars(running), "progress": p.model_dump(mode="json")}, indent=2)
            )
            return 0
        # whoever started it, from whichever checkout: the lock and the apply are the service's
        make_console().print(
            f"{s.project.name}/{s.environment}: apply of plan {running.plan_id} running, started "
            f"{running.started} by {running.requested_by} from {running.checkout}"
        )
        state = await follow_apply(handle, follow=watch)
        return exit_code(state) if state in FINAL else 0
    summary = guard(ws.state_summary)
    if fmt == Format.json:
        print(state_json(summary))
        return 0
    console = make_console()
    for line, style in state_lines(summary, s.project.name):
        console.print(line, style=style)
    await _local_endpoints(console, s)
    return 0


async def _local_endpoints(console: Any, s: Any) -> None:
    """Routers, revisions, weights, replicas and their health, as the routers see them."""
    import aiohttp

    from modelplane.runtime.local.registry import admin_headers, all_registries

    for _, reg in all_registries(s.root, s.environment):
        router = reg.router
        live: dict[str, Any] = {}
        if router is not None:
            try:
                async with (
                    aiohttp.ClientSession(headers=admin_headers(reg)) as session,
                    session.get(router.url + "/admin/state", timeout=aiohttp.ClientTimeout(total=2)) as r,
                ):
                    live = await r.json()
            except (aiohttp.ClientError, TimeoutError):
                live = {}
        where = f"router {router.url} ({reg.policy})" if router else "no router"
        console.print(f"endpoint/{reg.endpoint}: {where}" + ("" if live or not router else "  [router DOWN]"))
        for name, rev in reg.revisions.items():
            weight = live.get("weights", {}).get(name, rev.weight)
            console.print(f"  {name} {rev.role:<8} weight {weight:>3}%  {rev.model}  engine {rev.engine}")
            health = {b["pid"]: b for b in live.get("revisions", {}).get(name, [])}
            for rep in rev.replicas:
                h = health.get(rep.pid)
                state = "healthy" if h and h["healthy"] else "unhealthy" if h else "unknown"
                if rep.draining:
                    state = "draining"
                elif not rep.ready:
                    state = "starting"
                inflight = f", {h['inflight']} in flight" if h else ""
                console.print(f"    replica pid {rep.pid} {rep.url}  {state}{inflight}")
        if reg.autoscaling is not None and reg.autoscaler is not None:
            a = reg.autoscaling
            console.print(
                f"  autoscaler pid {reg.autoscaler.pid}: {a.metric}, target {a.target:g} per replica, "
                f"{a.min_replicas}..{a.max_replicas} replicas"
            )
        for e in reg.scaling[-3:]:
            at = datetime.fromtimestamp(e.at, UTC).strftime("%H:%M:%S")
            console.print(f"    {at} {e.revision}: {e.replicas_from} -> {e.replicas_to} replicas ({e.reason})")


def history(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    fmt: FormatOpt = Format.text,
) -> None:
    """Past applies of an environment: who, when, which plan, outcome."""
    ws = workspace(project, env)
    rows = guard(lambda: ws.history(limit))
    s = ws.settings
    if any(r.outcome == "running" for r in rows) and _closed_from_outside(s, rows):
        rows = guard(lambda: ws.history(limit))  # rows of applies terminated on the server now say so
    sys.stdout.write(
        history_json(rows) + "\n" if fmt == Format.json else history_text(rows, f"{s.project.name}/{s.environment}")
    )


def _closed_from_outside(s: Any, rows: list[Any]) -> bool:
    """Record the ending of "running" applies whose workflow was closed on the server (terminated, timed out):
    the workflow never writes it itself. Only asks a server that is already running (never starts one) and
    gives up quietly after a few seconds: `history` reads the state first."""
    import asyncio

    from modelplane.cli.follow import ended_unfinished, record_ended

    async def check() -> bool:
        from modelplane.runtime.temporal.client import connect

        client, _ = await connect(s, start=False)
        changed = False
        for row in rows:
            if row.outcome != "running" or not row.workflow_id:
                continue
            ended = await ended_unfinished(client.get_workflow_handle(row.workflow_id))  # type: ignore[attr-defined]
            if ended is not None:
                record_ended(s, row.apply_id, ended)
                changed = True
        return changed

    try:
        return bool(asyncio.run(asyncio.wait_for(check(), 5.0)))
    except Exception:  # no server, no connection, no answer: the rows stay as the state has them
        return False


def show(
    node: Annotated[str, typer.Argument(help="The node, as kind/name (e.g. model/tiny-chat) or a unique name.")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """A node's history in an environment: versions applied (apply, plan, who, when), runs, a model's
    artifacts and the runs that produced them, an evaluation's metrics, an endpoint's rollouts and weights."""
    from modelplane.cli.views.show import show_json, show_text

    ws = workspace(project, env)
    h = guard(lambda: ws.node_history(node))
    sys.stdout.write(show_json(h) + "\n" if fmt == Format.json else show_text(h))
