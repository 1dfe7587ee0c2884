"""Commands that act: apply, status, approve, pause, resume, abort, history, worker, server.

They are thin: the runtime does the work; this module asks, shows progress and
maps outcomes to exit codes (0 done, 1 failed or refused, 130 detached by Ctrl-C
while the apply goes on).
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli import _QUICK_EXIT, EnvOpt, Format, ProjectOpt, _color, _fail, _guard, _root, app
from modelplane.compiler.errors import ModelplaneError

POLL_S = 0.25
FINAL = ("succeeded", "failed", "aborted")


def _settings(project: Path | None, env: str | None) -> Any:
    from modelplane.runtime.connection import settings_for

    root = _root(project)
    return _guard(lambda: settings_for(root, env))


def _run(coro: Any) -> Any:
    import asyncio

    # the process ends without tearing the interpreter down: Temporal's client leaves native threads that
    # can abort a short-lived process at finalization (temporalio/sdk-python#300); output is flushed first
    _QUICK_EXIT.append(True)
    try:
        return asyncio.run(coro)
    except ModelplaneError as exc:
        _fail(exc)
    except ServerLost as exc:  # one line, no traceback: what happened and the command that re-attaches
        print(str(exc), file=sys.stderr)
        raise typer.Exit(1) from None


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = _color(stream)
    # off a terminal (CI logs, pipes) lines are not wrapped at 80 columns
    return Console(file=stream, force_terminal=tty, no_color=not tty, highlight=False, width=None if tty else 200)


def _ui_link(ep: Any, s: Any) -> str | None:
    if ep.ui_url is None:
        return None
    from urllib.parse import quote

    return f"{ep.ui_url}/namespaces/{ep.namespace}/workflows/{quote(s.workflow_id, safe='')}"


async def _client(s: Any, start: bool, with_worker: bool) -> tuple[Any, Any]:
    import asyncio

    from modelplane.runtime.connection import connect, ensure_worker

    client, ep = await connect(s, start=start)
    if with_worker and s.embedded:
        await asyncio.to_thread(ensure_worker, s, ep)
    return client, ep


async def _existing_client(s: Any, with_worker: bool = True) -> tuple[Any, Any] | None:
    """A client, or None where no embedded server runs (then no apply can be running either)."""
    from modelplane.runtime.server import running_server

    if s.embedded and running_server(s.root) is None and not _unfinished(s):
        return None
    return await _client(s, start=True, with_worker=with_worker)


def _unfinished(s: Any) -> bool:
    """Did an apply start here and never finish (the server went down with it)? Then it must resume."""
    from modelplane.runtime.state_backend import existing_store

    store = existing_store(s.root, s.state)
    if store is None:
        return False
    last = store.history(s.environment, limit=1)
    return bool(last) and last[0].outcome == "running"


async def _watch(handle: Any, s: Any, ep: Any, follow: bool = True) -> str:
    """Show progress until the apply ends; returns its final state."""
    import asyncio

    from rich.live import Live

    from modelplane.progress_view import LineLog, table
    from modelplane.runtime.messages import Progress

    console = _console()
    link = _ui_link(ep, s)
    if link:
        console.print(f"Temporal UI: {link}", style="dim")
    live = console.is_terminal
    log = LineLog(console)
    view = Live(console=console, refresh_per_second=8, transient=False) if live else None
    p: Progress | None = None
    try:
        if view is not None:
            view.start()
        waiting = False
        while True:
            try:
                p = await _progress(handle, s, ep, Progress)
            except NoWorker as exc:
                if not follow:
                    raise ServerLost(str(exc)) from None
                if not waiting:  # said once; the apply is safe on the server and goes on with the next worker
                    console.print(str(exc), style="yellow")
                    waiting = True
                await asyncio.sleep(POLL_S)
                continue
            waiting = False
            if view is not None:
                view.update(table(p, datetime.now(UTC)))
            else:
                log.update(p)
            if p.state in FINAL or not follow:
                break
            ended = await _ended_unfinished(handle)
            if ended is not None:  # a query replays a closed workflow as it last was: "running", forever
                if view is not None:
                    view.stop()
                    view = None
                console.print(
                    f"apply {p.apply_id} ended on the server without finishing: {ended}; what it did not finish "
                    f"is pending in the state: `modelplane plan --env {s.environment}` shows it, "
                    f"`modelplane apply --env {s.environment}` does it",
                    style="red",
                )
                return "failed"
            await asyncio.sleep(POLL_S)
    finally:
        if view is not None:
            view.stop()
    assert p is not None
    if p.state in FINAL:
        _summary(console, p)
    return p.state


async def _ended_unfinished(handle: Any) -> str | None:
    """How the apply's workflow closed without its own ending (terminated, timed out...), or None if it runs."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    try:
        desc = await handle.describe()
    except RPCError:
        return None  # the next query says what is wrong with the server
    if desc.status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        return None  # completed: the query's next answer is its final state
    name: str = desc.status.name
    return name.lower().replace("_", " ")


class ServerLost(Exception):
    """The Temporal server stopped answering while a command followed an apply."""


class NoWorker(ServerLost):
    """The server answers, but no worker polls the apply's task queue (the apply waits for one)."""


async def _progress(handle: Any, s: Any, ep: Any, progress_type: Any) -> Any:
    """The apply's progress; losing the server ends the command with one line saying how to re-attach."""
    from temporalio.service import RPCError

    try:
        return await handle.query("progress", result_type=progress_type)
    except RPCError as exc:
        if "no poller" in str(exc):  # the server answers; no worker polls the apply's task queue now
            raise NoWorker(
                f"no worker polls task queue `{s.temporal.task_queue}` at {ep.address} now; the apply waits on the "
                f"server and goes on when one does (embedded mode: `modelplane apply` starts one; a team: start "
                f"`modelplane worker` on the same build)"
            ) from None
        raise ServerLost(
            f"lost the Temporal server at {ep.address} while following apply {s.workflow_id} ({exc}); the apply "
            f"is kept by the server and goes on when it is back: re-attach with "
            f"`modelplane status --env {s.environment} --watch`"
        ) from None


def _summary(console: Any, p: Any) -> None:
    from modelplane.progress_view import headline

    style = {"succeeded": "green", "failed": "red", "aborted": "yellow"}.get(p.state, "")
    console.print(headline(p), style=style)
    if p.preflight:
        console.print("✗ preflight: nothing was run; missing on the worker:", style="red")
        for problem in p.preflight:
            console.print(f"  - {problem.what}", style="red")
            console.print(f"    hint: {problem.hint}")
    for aid in p.order:
        r = p.actions[aid]
        if r.state == "failed":
            console.print(f"  ✗ {aid}: {r.error}", style="red")
            if r.output.get("hint"):
                console.print(f"    hint: {r.output['hint']}")
            if r.output.get("metrics"):
                console.print(f"    metrics: {json.dumps(r.output['metrics'])}")


@app.command()
def apply(
    planfile: Annotated[Path | None, typer.Argument(help="A plan saved with `plan --out` (default: plan now).")] = None,
    project: ProjectOpt = None,
    env: EnvOpt = None,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation.")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Start the apply and return; watch with `status`.")] = False,
    parallelism: Annotated[int, typer.Option("--parallelism", min=1, max=64, help="Actions at a time.")] = 8,
    wait_approvals: Annotated[
        float,
        typer.Option("--wait-approvals", min=0, help="Wait up to this many seconds for approvals the policy requires."),
    ] = 0,
) -> None:
    """Apply the plan as a durable workflow: resumable after any crash, one apply per environment at a time."""
    from modelplane.runtime.apply import load_plan_file

    saved = _guard(lambda: load_plan_file(planfile)) if planfile is not None else None
    s = _settings(project, env or (saved.environment if saved else None))
    try:
        code = _run(_apply(s, planfile, saved, auto_approve, detach, parallelism, wait_approvals))
    except KeyboardInterrupt:
        print(
            f"\ndetached: the apply goes on in the background. Watch it: modelplane status --env {s.environment} "
            f"--watch; stop it: modelplane abort --env {s.environment}",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    raise typer.Exit(code)


async def _approvals(s: Any, plan: Any, store: Any, wait: float) -> None:
    """The environment's approval policy: every owner it requires has approved this plan, or (after waiting
    up to ``wait`` seconds for them) the apply stops before anything runs, naming who must approve what."""
    import asyncio
    import time

    from modelplane.runtime import approvals

    require = s.project.environments[s.environment].approvals.require
    if not approvals.needed(plan, require):
        return
    deadline = time.monotonic() + wait
    while (lacking := approvals.missing(plan, require, store)) and time.monotonic() < deadline:
        await asyncio.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
    if lacking:
        who = "; ".join(f"{o} ({', '.join(items)})" for o, items in lacking.items())
        raise ModelplaneError(
            f"{s.environment} requires the owners' approval for {', '.join(require)}: plan {plan.id} still needs {who}",
            hint="each of them runs `modelplane approve --env "
            f"{s.environment} --plan {plan.id} --owner OWNER`; then apply again (or pass --wait-approvals SECONDS)",
        )
    for a in approvals.given(store, plan.environment, plan.id).values():
        print(f"approved for {a.owner} by {a.by}", file=sys.stderr)


async def _apply(
    s: Any, planfile: Path | None, saved: Any, auto_approve: bool, detach: bool, par: int, wait_approvals: float = 0
) -> int:
    """Apply one plan object: the saved one as it is, or one made now; either way nothing compiles after it."""
    import asyncio

    from modelplane.compiler.report_text import render as render_text
    from modelplane.compiler.scan import scan
    from modelplane.runtime.apply import apply_input, check_saved, fresh_plan, refuse_concurrent, running_apply, start
    from modelplane.runtime.connection import open_store

    store = open_store(s.root, s.state)
    existing = await _existing_client(s)
    if existing is not None:
        client, ep = existing
        running = await running_apply(client, s)
        if running is not None:
            # the specs' fingerprint is a scan's (file hashes): re-attaching compiles nothing
            same = (
                running.plan_id == saved.id
                if saved is not None
                else running.spec_fingerprint == _guard(lambda: scan(s.root, s.environment)).fingerprint
            )
            if not same:
                raise refuse_concurrent(s, running)
            print(f"re-attaching to the running apply of plan {running.plan_id} on {s.environment}", file=sys.stderr)
            handle = client.get_workflow_handle(s.workflow_id)
            return 0 if detach else _exit_code(await _watch(handle, s, ep))
    if saved is not None:
        assert planfile is not None
        for note in check_saved(saved, planfile, s, store):
            print(note, file=sys.stderr)
    plan = saved if saved is not None else await asyncio.to_thread(fresh_plan, s, store)
    sys.stdout.write(render_text(plan, color=_color(sys.stdout)))
    if not plan.actions and not plan.changes:
        return 0
    await _approvals(s, plan, store, wait_approvals)
    if not auto_approve:
        if not sys.stdin.isatty():
            raise ModelplaneError(
                "apply needs confirmation, and stdin is not a terminal",
                hint="pass --auto-approve to apply without asking (CI), or run it in a terminal",
            )
        if not typer.confirm(f"Apply {len(plan.actions)} action(s) to {s.project.name}/{s.environment}?"):
            print("apply cancelled; nothing was changed", file=sys.stderr)
            return 1
    inp = apply_input(plan, s, par, auto_approve, apply_id=store.next_apply_id(), store_id=store.store_id())
    if existing is None:
        client, ep = await _client(s, start=True, with_worker=True)
    handle = await start(client, s, inp)
    print(f"apply {inp.apply_id} started as workflow {s.workflow_id}", file=sys.stderr)
    if detach:
        link = _ui_link(ep, s)
        print(f"detached; watch with: modelplane status --env {s.environment} --watch" + (f"\n{link}" if link else ""))
        return 0
    return _exit_code(await _watch(handle, s, ep))


def _exit_code(state: str) -> int:
    return 0 if state == "succeeded" else 1


@app.command()
def status(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow a running apply until it ends.")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """The running apply (re-attaching to it), or the applied state: serial, pending actions, last apply."""
    s = _settings(project, env)
    raise typer.Exit(_run(_status(s, watch, fmt)))


async def _status(s: Any, watch: bool, fmt: Format) -> int:
    from modelplane.runtime.apply import running_apply
    from modelplane.runtime.connection import open_store
    from modelplane.runtime.messages import Progress

    existing = await _existing_client(s)
    if existing is not None:
        client, ep = existing
        running = await running_apply(client, s)
        if running is not None:
            handle = client.get_workflow_handle(s.workflow_id)
            if fmt == Format.json:
                p = await _progress(handle, s, ep, Progress)
                print(
                    json.dumps(
                        {"running": True, "apply": vars(running), "progress": p.model_dump(mode="json")}, indent=2
                    )
                )
                return 0
            # whoever started it, from whichever checkout: the lock and the apply are the service's
            _console().print(
                f"{s.project.name}/{s.environment}: apply of plan {running.plan_id} running, started "
                f"{running.started} by {running.requested_by} from {running.checkout}"
            )
            state = await _watch(handle, s, ep, follow=watch)
            return _exit_code(state) if state in FINAL else 0
    store = open_store(s.root, s.state)
    applied = store.applied(s.environment)
    last = store.history(s.environment, limit=1)
    outputs = store.outputs(s.environment)
    if fmt == Format.json:
        doc = {
            "running": False,
            "environment": s.environment,
            "serial": applied.serial,
            "nodes": len(applied.nodes),
            "pending": {k: vars(v) for k, v in applied.pending.items()},
            "outputs": outputs,
            "last_apply": vars(last[0]) if last else None,
        }
        print(json.dumps(doc, indent=2, default=str))
        return 0
    console = _console()
    console.print(
        f"{s.project.name}/{s.environment}: no apply running; state serial {applied.serial}, "
        f"{len(applied.nodes)} node(s) applied"
    )
    if last:
        h = last[0]
        when = datetime.fromtimestamp(h.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        console.print(f"last apply {h.apply_id}: {h.outcome}, {when} by {h.requested_by} {_counts(h.summary)}")
    for aid, p in applied.pending.items():
        console.print(f"  pending {aid}: {p.reason}", style="yellow")
    for nid, out in outputs.items():
        console.print(f"  {nid}: {json.dumps(out, sort_keys=True)}")
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
            when = datetime.fromtimestamp(e.at, UTC).strftime("%H:%M:%S")
            console.print(f"    {when} {e.revision}: {e.replicas_from} -> {e.replicas_to} replicas ({e.reason})")


def _counts(summary: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{v} {k}" for k, v in sorted(summary.items())) + ")" if summary else ""


async def _handle(s: Any) -> Any:
    from modelplane.runtime.apply import running_apply

    existing = await _existing_client(s)
    if existing is None or await running_apply(existing[0], s) is None:
        raise ModelplaneError(
            f"no apply is running on {s.project.name}/{s.environment}",
            hint=f"`modelplane status --env {s.environment}` shows the last one",
        )
    return existing[0].get_workflow_handle(s.workflow_id)


@app.command()
def approve(
    target: Annotated[str | None, typer.Argument(help="The endpoint to approve (default: every waiting gate).")] = None,
    project: ProjectOpt = None,
    env: EnvOpt = None,
    plan: Annotated[
        str | None, typer.Option("--plan", help="Approve this plan (its id, or a file from `plan --out`) for --owner.")
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="The owner you approve for (with --plan).")] = None,
) -> None:
    """Approve a rollout waiting at a manual gate, or (--plan, --owner) a plan the environment's approval policy holds."""
    s = _settings(project, env)
    if plan is not None or owner is not None:
        _approve_plan(s, plan, owner)
        return

    async def go() -> None:
        from temporalio.client import WorkflowUpdateFailedError

        from modelplane.runtime.apply import requested_by
        from modelplane.runtime.messages import Approval

        handle = await _handle(s)
        name = None if target is None else target if "/" in target else f"endpoint/{target}"
        try:
            done = await handle.execute_update(
                "approve", Approval(target=name, by=requested_by()), result_type=list[str]
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise ModelplaneError(f"not approved: {getattr(cause, 'message', cause)}") from None
        print(f"approved: {', '.join(done)}")

    _run(go())


def _approve_plan(s: Any, plan: str | None, owner: str | None) -> None:
    """Record an owner's approval of one plan in the state store (every checkout and CI read it there)."""
    from modelplane.runtime import approvals
    from modelplane.runtime.apply import load_plan_file, requested_by
    from modelplane.runtime.connection import open_store

    if plan is None or owner is None:
        _fail(
            ModelplaneError(
                "approving a plan needs both --plan and --owner", hint="e.g. --plan 3025d9b2... --owner team-ml"
            )
        )
    assert plan is not None and owner is not None
    plan_id, items = plan, []
    if Path(plan).exists():
        saved = _guard(lambda: load_plan_file(Path(plan)))
        plan_id = saved.id
        items = approvals.needed(saved, s.project.environments[s.environment].approvals.require).get(owner, [])
    store = open_store(s.root, s.state)
    who = requested_by()
    approvals.record(store, s.environment, plan_id, owner, who, items)
    print(f"approved plan {plan_id} on {s.environment} for {owner} (by {who})")


def _signal(s: Any, name: str, *args: Any) -> None:
    async def go() -> None:
        handle = await _handle(s)
        await handle.signal(name, *args)

    _run(go())


@app.command()
def pause(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Start no new actions until `resume` (running ones finish)."""
    s = _settings(project, env)
    _signal(s, "pause")
    print(f"paused the apply on {s.environment}: running actions finish, no new ones start")


@app.command()
def resume(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Resume a paused apply."""
    s = _settings(project, env)
    _signal(s, "resume")
    print(f"resumed the apply on {s.environment}")


@app.command()
def abort(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Recorded in history.")] = "aborted by user",
) -> None:
    """Stop the running apply: nothing new starts, rollouts in flight roll back, state keeps what happened."""
    s = _settings(project, env)
    _signal(s, "abort", reason)
    print(f"abort requested on {s.environment}; watch it end with: modelplane status --env {s.environment} --watch")


@app.command()
def history(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Past applies of an environment: who, when, which plan, outcome."""
    from modelplane.runtime.connection import open_store

    s = _settings(project, env)
    store = _guard(lambda: open_store(s.root, s.state))
    rows = store.history(s.environment, limit)
    if fmt == Format.json:
        print(json.dumps([vars(r) for r in rows], indent=2))
        return
    if not rows:
        print(f"no applies on {s.project.name}/{s.environment} yet")
        return
    for h in rows:
        when = datetime.fromtimestamp(h.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        took = f" in {h.finished_at - h.started_at:.1f}s" if h.finished_at else ""
        print(f"{when}  {h.apply_id}  {h.outcome:<9} {h.requested_by}{took} {_counts(h.summary)}")
        for aid, why in h.failures.items():
            print(f"    ✗ {aid}: {why.splitlines()[0] if why else ''}")


@app.command()
def worker(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    idle_exit: Annotated[
        float | None, typer.Option("--idle-exit", help="Exit after this many seconds with no apply running.")
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option("--health-port", help="Serve GET /healthz on this port (200 while polling, 503 when stopping)."),
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text, or json: one JSON object per line.")] = "text",
) -> None:
    """Run a worker: in the foreground as a service for a team's Temporal (any directory with connection
    settings will do: an apply carries what it needs), or for the embedded server. SIGTERM stops it gracefully."""
    from modelplane.runtime.worker import serve

    if log_format not in ("text", "json"):
        _fail(ModelplaneError(f"unknown --log-format `{log_format}`", hint="use text or json"))
    root = _root(project)
    with contextlib.suppress(KeyboardInterrupt):
        _run(serve(root, env, idle_exit, health_port=health_port, log_format=log_format))


@app.command()
def server(
    project: ProjectOpt = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the embedded server (and its worker).")] = False,
) -> None:
    """Run the embedded Temporal server in the foreground, with its Web UI."""
    import os
    import subprocess

    from modelplane.runtime.connection import stop_worker
    from modelplane.runtime.server import running_server, server_command, state_dir, stop_server

    root = _root(project)
    if stop:
        stop_worker(root)
        stopped = stop_server(root)
        print("stopped the embedded Temporal server" if stopped else "the embedded Temporal server was not running")
        return
    running = running_server(root)
    if running is not None:
        print(f"the embedded Temporal server already runs (pid {running.pid}) at {running.address}")
        if running.ui_url:
            print(f"Web UI: {running.ui_url}")
        print("stop it with: modelplane server --stop")
        return
    from dataclasses import asdict

    from modelplane.compiler.sources import PRIVATE_UMASK, atomic_write, private_dir
    from modelplane.runtime.procs import stamp
    from modelplane.runtime.server import ServerInfo, claim_database, free_port, record_owner, with_read_only_ui

    s = _settings(project, None)
    port = free_port(7233)
    ui_port = free_port(8233) if s.temporal.ui != "off" else None
    db = state_dir(root) / "temporal.db"
    cmd = _guard(lambda: server_command(db, port, ui_port, s.temporal.namespace))
    private_dir(state_dir(root) / "logs")
    owner = _guard(lambda: claim_database(db))  # one server per database, whoever starts it
    proc = subprocess.Popen(cmd, cwd=root, umask=PRIVATE_UMASK, pass_fds=(owner,))
    ident = stamp(proc.pid)  # so `server --stop` and `down` can tell it from a later process with its pid
    fg = ServerInfo(
        proc.pid,
        f"127.0.0.1:{port}",
        f"http://127.0.0.1:{ui_port}" if ui_port else None,
        str(db),
        s.temporal.namespace,
        started=ident.started,
        cmdline=ident.cmdline,
    )
    if ui_port is not None and s.temporal.ui == "read-only":
        fg = _guard(lambda: with_read_only_ui(fg, f"127.0.0.1:{ui_port}", state_dir(root)))
    record_owner(owner, fg)
    os.close(owner)
    atomic_write(state_dir(root) / "temporal.json", json.dumps(asdict(fg), indent=2).encode())
    ui = f"Web UI ({s.temporal.ui}) at {fg.ui_url}" if fg.ui_url else "no Web UI (temporal.ui: off)"
    print(f"Temporal at {fg.address}, {ui}; Ctrl-C stops it", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)


def _router_of(s: Any, endpoint: str) -> tuple[str, str]:
    """(router URL, served model name) of a local endpoint, from the registry."""
    from modelplane.runtime.local.registry import read, registry_path

    name = endpoint.removeprefix("endpoint/")
    reg = read(registry_path(s.root, s.environment, name))
    if reg is None or reg.router is None:
        raise ModelplaneError(
            f"endpoint/{name} is not running on the local stack of {s.environment}",
            hint=f"bring it up with `modelplane apply --env {s.environment}`",
        )
    stable = reg.stable()
    model = reg.revisions[stable].model.split("@")[0] if stable else name
    return reg.router.url, model


@app.command()
def load(
    endpoint: Annotated[str, typer.Argument(help="The endpoint (name or endpoint/name) on the local stack.")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    qps: Annotated[float, typer.Option("--qps", min=0.1, help="Requests per second (open loop).")] = 20.0,
    duration: Annotated[float, typer.Option("--duration", min=0.1, help="Seconds.")] = 10.0,
    input_tokens: Annotated[int, typer.Option("--input-tokens", min=1)] = 50,
    output_tokens: Annotated[int, typer.Option("--output-tokens", min=1)] = 50,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Send steady load to an endpoint's router and print latency percentiles."""
    import asyncio

    from modelplane.runtime.local.load import run_load

    s = _settings(project, env)
    url, model = _guard(lambda: _router_of(s, endpoint))
    result = asyncio.run(run_load(url, model, qps, duration, input_tokens, output_tokens))
    summary = result.summary()
    if fmt == Format.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['sent']} requests in {result.wall_s:.1f}s ({summary['achieved_qps']}/s): {summary['ok']} ok, "
            f"{summary['errors']} errors, {summary['dropped']} dropped"
        )
        print(
            f"latency p50 {summary['p50_ms']:.1f} ms  p90 {summary['p90_ms']:.1f} ms  p99 {summary['p99_ms']:.1f} ms"
            f"  max {summary['max_ms']:.1f} ms"
            if summary["p50_ms"] is not None
            else "no responses"
        )
        print("by revision: " + ", ".join(f"{r} {n}" for r, n in sorted(summary["by_revision"].items())))
    raise typer.Exit(0 if result.errors == 0 else 1)


@app.command()
def down(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    keep_server: Annotated[
        bool, typer.Option("--keep-server", help="Leave the Temporal server and worker up.")
    ] = False,
) -> None:
    """Stop every local endpoint (routers and replicas) of the environment; the next apply brings them back."""
    from modelplane.runtime.connection import open_store, stop_worker
    from modelplane.runtime.local.provisioner import down_endpoint
    from modelplane.runtime.local.registry import all_registries
    from modelplane.runtime.server import stop_server

    s = _settings(project, env)
    stopped = []
    for _, reg in all_registries(s.root, s.environment):
        n = down_endpoint(s.root, s.environment, reg.endpoint)
        stopped.append(reg.endpoint)
        print(f"  stopped endpoint/{reg.endpoint} ({n} processes)")
    store = _guard(lambda: open_store(s.root, s.state))
    applied = store.applied(s.environment)
    # what ran on the local stack is gone: forget it, so the next plan provisions it again
    local_stacks = {k for k, n in applied.nodes.items() if n.kind == "Stack" and n.data["spec"]["provider"] == "local"}
    gone = [
        k
        for k, n in applied.nodes.items()
        if k in local_stacks or (n.kind == "Endpoint" and f"stack/{n.data['spec']['stack']}" in local_stacks)
    ]
    if gone:
        store.record(s.environment, "down", deletes=gone)
    if not keep_server:
        if stop_worker(s.root):
            print("  stopped the background worker")
        if stop_server(s.root):
            print("  stopped the embedded Temporal server")
    print(f"✓ {s.environment} is down" + (f"; {len(gone)} node(s) will be provisioned again by apply" if gone else ""))


stack_app = typer.Typer(help="Pulumi stacks: preview what a stack's program creates.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")


@stack_app.command("preview")
def stack_preview(
    stack: Annotated[str, typer.Argument(help="The stack (name or stack/name).")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    render: Annotated[
        Path | None, typer.Option("--render", help="Also write the Kubernetes objects as YAML here.")
    ] = None,
) -> None:
    """Every resource the stack's Pulumi program would create, offline (no Pulumi CLI, no cloud)."""
    from modelplane.compiler.compile import compile_graph
    from modelplane.specs.base import NodeId
    from modelplane.stacks.preview import preview, write_objects
    from modelplane.stacks.render import render_stack

    s = _settings(project, env)
    graph = _guard(lambda: compile_graph(s.root, s.environment)).graph
    name = stack.removeprefix("stack/")
    node = graph.nodes.get(NodeId("stack", name))
    if node is None:
        from modelplane.compiler.errors import did_you_mean

        names = [n.name for n in graph.iter_kind("Stack")]
        _fail(ModelplaneError(f"no stack named `{name}` in {s.environment}", hint=did_you_mean(name, names, "stacks")))
    if node.spec["provider"] == "local":
        _fail(ModelplaneError(f"stack/{name} is a local stack: it has no Pulumi program",
                              hint="`modelplane status` shows what runs on it"))  # fmt: skip
    rendered = render_stack(graph, name)
    rows, missing = preview(rendered)
    spec = node.spec
    where = ", ".join(x for x in (spec["provider"], spec["region"], f"namespace {rendered.namespace}") if x)
    print(f"stack/{name} ({where}), env {s.environment}: {len(rows)} resources")
    for r in rows:
        print(f"  + {r.type}  {r.name}" + (f"\n      {r.summary}" if r.summary else ""))
    for extra in missing:
        print(f"note: node pools not shown: install the `{extra}` extra (pip install 'modelplane[{extra}]')")
    if render is not None:
        written = write_objects(rendered, render)
        print(f"wrote {len(written)} Kubernetes objects to {render}", file=sys.stderr)
