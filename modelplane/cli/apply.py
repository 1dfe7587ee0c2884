"""Commands that change an environment: apply, approve, pause, resume, abort."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.follow import (
    connect_client,
    existing_client,
    exit_code,
    follow_apply,
    run_async,
    running_handle,
    signal_apply,
    ui_link,
)
from modelplane.cli.options import EnvOpt, ProjectOpt, color
from modelplane.cli.project import settings
from modelplane.compiler.errors import ModelplaneError


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

    saved = guard(lambda: load_plan_file(planfile)) if planfile is not None else None
    s = settings(project, env or (saved.environment if saved else None))
    try:
        code = run_async(_apply(s, planfile, saved, auto_approve, detach, parallelism, wait_approvals))
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

    from modelplane.compiler.report.text import render as render_text
    from modelplane.compiler.source.scan import scan
    from modelplane.runtime.apply import apply_input, check_saved, fresh_plan, refuse_concurrent, running_apply, start
    from modelplane.runtime.settings import open_store

    store = open_store(s.root, s.state)
    existing = await existing_client(s)
    if existing is not None:
        client, ep = existing
        running = await running_apply(client, s)
        if running is not None:
            # the specs' fingerprint is a scan's (file hashes): re-attaching compiles nothing
            same = (
                running.plan_id == saved.id
                if saved is not None
                else running.spec_fingerprint == guard(lambda: scan(s.root, s.environment)).fingerprint
            )
            if not same:
                raise refuse_concurrent(s, running)
            print(f"re-attaching to the running apply of plan {running.plan_id} on {s.environment}", file=sys.stderr)
            handle = client.get_workflow_handle(s.workflow_id)
            return 0 if detach else exit_code(await follow_apply(handle, s, ep))
    if saved is not None:
        assert planfile is not None
        for note in check_saved(saved, planfile, s, store):
            print(note, file=sys.stderr)
    plan = saved if saved is not None else await asyncio.to_thread(fresh_plan, s, store)
    sys.stdout.write(render_text(plan, color=color(sys.stdout)))
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
        client, ep = await connect_client(s, start=True, with_worker=True)
    handle = await start(client, s, inp)
    print(f"apply {inp.apply_id} started as workflow {s.workflow_id}", file=sys.stderr)
    if detach:
        link = ui_link(ep, s)
        print(f"detached; watch with: modelplane status --env {s.environment} --watch" + (f"\n{link}" if link else ""))
        return 0
    return exit_code(await follow_apply(handle, s, ep))


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
    s = settings(project, env)
    if plan is not None or owner is not None:
        _approve_plan(s, plan, owner)
        return

    async def go() -> None:
        from temporalio.client import WorkflowUpdateFailedError

        from modelplane.runtime.apply import requested_by
        from modelplane.runtime.temporal.messages import Approval

        handle = await running_handle(s)
        name = None if target is None else target if "/" in target else f"endpoint/{target}"
        try:
            done = await handle.execute_update(
                "approve", Approval(target=name, by=requested_by()), result_type=list[str]
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise ModelplaneError(f"not approved: {getattr(cause, 'message', cause)}") from None
        print(f"approved: {', '.join(done)}")

    run_async(go())


def _approve_plan(s: Any, plan: str | None, owner: str | None) -> None:
    """Record an owner's approval of one plan in the state store (every checkout and CI read it there)."""
    from modelplane.runtime import approvals
    from modelplane.runtime.apply import load_plan_file, requested_by
    from modelplane.runtime.settings import open_store

    if plan is None or owner is None:
        fail(
            ModelplaneError(
                "approving a plan needs both --plan and --owner", hint="e.g. --plan 3025d9b2... --owner team-ml"
            )
        )
    assert plan is not None and owner is not None
    plan_id, items = plan, []
    if Path(plan).exists():
        saved = guard(lambda: load_plan_file(Path(plan)))
        plan_id = saved.id
        items = approvals.needed(saved, s.project.environments[s.environment].approvals.require).get(owner, [])
    store = open_store(s.root, s.state)
    who = requested_by()
    approvals.record(store, s.environment, plan_id, owner, who, items)
    print(f"approved plan {plan_id} on {s.environment} for {owner} (by {who})")


def pause(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Start no new actions until `resume` (running ones finish)."""
    s = settings(project, env)
    signal_apply(s, "pause")
    print(f"paused the apply on {s.environment}: running actions finish, no new ones start")


def resume(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Resume a paused apply."""
    s = settings(project, env)
    signal_apply(s, "resume")
    print(f"resumed the apply on {s.environment}")


def abort(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Recorded in history.")] = "aborted by user",
) -> None:
    """Stop the running apply: nothing new starts, rollouts in flight roll back, state keeps what happened."""
    s = settings(project, env)
    signal_apply(s, "abort", reason)
    print(f"abort requested on {s.environment}; watch it end with: modelplane status --env {s.environment} --watch")
