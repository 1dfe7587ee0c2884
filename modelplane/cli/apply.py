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
    from modelplane.runtime.apply import ApplyOptions
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
    allow_stale_specs: Annotated[
        bool,
        typer.Option(
            "--allow-stale-specs", help="Apply a saved plan although the specs on disk changed since it was made."
        ),
    ] = False,
) -> None:
    """Apply the plan as a durable workflow: resumable after any crash, one apply per environment at a time."""
    from modelplane.runtime.apply import ApplyOptions, load_plan_file

    saved = guard(lambda: load_plan_file(planfile)) if planfile is not None else None
    ws = workspace(project, env or (saved.environment if saved else None))
    s = ws.settings
    try:
        options = ApplyOptions(
            parallelism=parallelism,
            auto_approve=auto_approve,
            wait_approvals=wait_approvals,
            allow_stale_specs=allow_stale_specs,
        )
        code = run_async(_apply(ws, saved, planfile, detach, options))
    except KeyboardInterrupt:
        print(
            f"\ndetached: the apply goes on in the background. Watch it: modelplane status --env {s.environment} "
            f"--watch; stop it: modelplane abort --env {s.environment}",
            file=sys.stderr,
        )
        raise typer.Exit(130) from None
    raise typer.Exit(code)


async def _apply(ws: Workspace, saved: Any, planfile: Path | None, detach: bool, options: ApplyOptions) -> int:
    """The Workspace's apply, shown: the plan, the notes, the confirmation, then the progress."""
    from modelplane.compiler.report.text import render as render_text
    from modelplane.runtime.apply import ApplyHooks

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
        from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow

        handle = await running_handle(s)
        name = None if target is None else target if "/" in target else f"endpoint/{target}"
        try:
            done = await handle.execute_update(ApplyPlanWorkflow.approve, Approval(target=name, by=requested_by()))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise ModelplaneError(f"not approved: {getattr(cause, 'message', cause)}") from None
        print(f"approved: {', '.join(done)}")

    run_async(go())


def _approve_plan(s: Any, plan: str | None, owner: str | None) -> None:
    """Record an owner's approval of one plan in the state store (every checkout and CI read it there).

    The plan is the saved file, or (an id) the plan of the working tree now, which must have that id: the
    approver is checked against that plan's own sealed policy (``runtime.approvals.check_approver``)."""
    from modelplane.runtime import approvals, identity
    from modelplane.runtime.apply import check_seal, fresh_plan, load_plan_file
    from modelplane.runtime.settings import open_store

    if plan is None or owner is None:
        fail(
            ModelplaneError(
                "approving a plan needs both --plan and --owner", hint="e.g. --plan 3025d9b2... --owner team-ml"
            )
        )
    assert plan is not None and owner is not None
    store = open_store(s.root, s.state)
    if Path(plan).exists():
        saved = guard(lambda: load_plan_file(Path(plan)))
        guard(lambda: check_seal(saved, plan, store))
    else:
        saved = guard(lambda: fresh_plan(s, store))
        if saved.id != plan:
            fail(
                ModelplaneError(
                    f"plan {plan} is not the plan of the working tree against the applied state of "
                    f"{s.environment} (that is {saved.id})",
                    hint="approve the plan file itself (`modelplane approve --plan FILE --owner OWNER`), "
                    "or check out what the plan was made from",
                )
            )
    me = identity.current(s.root)
    items = guard(lambda: approvals.check_approver(saved, owner, me))
    approvals.record(store, s.environment, saved.id, owner, me, items)
    print(f"approved plan {saved.id} on {s.environment} for {owner} (by {me.who}, identified by {me.via})")


def pause(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Start no new actions until `resume` (running ones finish)."""
    s = settings(project, env)
    from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow

    signal_apply(s, ApplyPlanWorkflow.pause)
    print(f"paused the apply on {s.environment}: running actions finish, no new ones start")


def resume(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Resume a paused apply."""
    s = settings(project, env)
    from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow

    signal_apply(s, ApplyPlanWorkflow.resume)
    print(f"resumed the apply on {s.environment}")


def abort(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Recorded in history.")] = "aborted by user",
) -> None:
    """Stop the running apply: nothing new starts, rollouts in flight roll back, state keeps what happened."""
    s = settings(project, env)
    from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow

    signal_apply(s, ApplyPlanWorkflow.abort, reason)
    print(f"abort requested on {s.environment}; watch it end with: modelplane status --env {s.environment} --watch")
