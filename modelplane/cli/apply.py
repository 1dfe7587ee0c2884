"""Commands that change an environment: apply, approve, pause, resume, abort."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.follow import (
    exit_code,
    follow_apply,
    run_async,
    running_handle,
    signal_apply,
)
from modelplane.cli.options import EnvOpt, ProjectOpt, color
from modelplane.cli.project import settings, workspace
from modelplane.errors import ModelplaneError

if TYPE_CHECKING:
    from modelplane.workspace import Workspace


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
    ws = workspace(project, env or (saved.environment if saved else None))
    s = ws.settings
    try:
        code = run_async(_apply(ws, saved, planfile, auto_approve, detach, parallelism, wait_approvals))
    except KeyboardInterrupt:
        print(
            f"\ndetached: the apply goes on in the background. Watch it: modelplane status --env {s.environment} "
            f"--watch; stop it: modelplane abort --env {s.environment}",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    raise typer.Exit(code)


async def _apply(
    ws: Workspace, saved: Any, planfile: Path | None, auto_approve: bool, detach: bool, par: int, wait: float
) -> int:
    """The Workspace's apply, shown: the plan, the notes, the confirmation, then the progress."""
    from modelplane.compiler.report.text import render as render_text
    from modelplane.runtime.apply import ApplyHooks, ApplyOptions

    s = ws.settings

    def confirm(plan: Any) -> bool:
        if not sys.stdin.isatty():
            raise ModelplaneError(
                "apply needs confirmation, and stdin is not a terminal",
                hint="pass --auto-approve to apply without asking (CI), or run it in a terminal",
            )
        return typer.confirm(f"Apply {len(plan.actions)} action(s) to {s.project.name}/{s.environment}?")

    def show(plan: Any) -> None:
        sys.stdout.write(render_text(plan, color=color(sys.stdout)))

    hooks = ApplyHooks(
        show_plan=show,
        confirm=confirm,
        note=lambda message: print(message, file=sys.stderr),
    )
    options = ApplyOptions(parallelism=par, auto_approve=auto_approve, wait_approvals=wait)
    out = await ws.apply(saved, planfile=planfile, options=options, hooks=hooks)
    if out.cancelled:
        print("apply cancelled; nothing was changed", file=sys.stderr)
        return 1
    handle = out.handle
    if handle is None:
        return 0
    if not handle.reattached:
        print(f"apply {handle.apply_id} started as workflow {s.workflow_id}", file=sys.stderr)
        if detach:
            link = handle.ui_link
            print(
                f"detached; watch with: modelplane status --env {s.environment} --watch" + (f"\n{link}" if link else "")
            )
    if detach:
        return 0
    return exit_code(await follow_apply(handle))


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
