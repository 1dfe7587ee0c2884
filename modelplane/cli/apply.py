"""Commands that change an environment: apply, approve, pause, resume, abort."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane import exitcodes
from modelplane.cli.exit import fail, guard
from modelplane.cli.follow import exit_code, follow_apply, run_async, signal_apply
from modelplane.cli.formats import Format, color
from modelplane.cli.options import EnvOpt, FormatOpt, ProjectOpt
from modelplane.cli.project import workspace
from modelplane.errors import ModelplaneError

if TYPE_CHECKING:
    from modelplane.compiler.plan.model import Plan
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
    from modelplane.workspace import Workspace

    saved = guard(lambda: Workspace.read_plan(planfile)) if planfile is not None else None
    ws = workspace(project, env or (saved.environment if saved else None))
    s = ws.settings
    try:
        options = Workspace.apply_options(
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
        raise typer.Exit(exitcodes.INTERRUPTED) from None
    raise typer.Exit(code)


async def _apply(ws: Workspace, saved: Any, planfile: Path | None, detach: bool, options: ApplyOptions) -> int:
    """The Workspace's apply, shown: the plan, the notes, the confirmation, then the progress."""
    from modelplane.cli.views.plan import plan_text
    from modelplane.cli.views.words import plural

    s = ws.settings

    def confirm(plan: Plan) -> bool:
        if not sys.stdin.isatty():
            raise ModelplaneError(
                "apply needs confirmation, and stdin is not a terminal",
                hint="pass --auto-approve to apply without asking (CI), or run it in a terminal",
            )
        return typer.confirm(f"Apply {plural(len(plan.actions), 'action')} to {s.project.name}/{s.environment}?")

    def show(plan: Plan) -> None:
        sys.stdout.write(plan_text(plan, color=color(sys.stdout)))

    hooks = ws.apply_hooks(show, confirm, lambda message: print(message, file=sys.stderr))
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
    fmt: FormatOpt = Format.text,
) -> None:
    """Approve a rollout waiting at a manual gate, or (--plan, --owner) a plan the environment's approval policy holds."""
    from modelplane.cli.views.approve import gates_approval_view, plan_approval_view

    ws = workspace(project, env)
    if plan is not None or owner is not None:
        if plan is None or owner is None:
            fail(
                ModelplaneError(
                    "approving a plan needs both --plan and --owner", hint="e.g. --plan 3025d9b2... --owner team-ml"
                ),
                fmt,
            )
        the_plan, the_owner = plan, owner
        recorded = guard(lambda: ws.approve_plan(the_plan, the_owner), fmt)
        plan_approval_view(recorded, fmt).write()
        return
    done = run_async(ws.approve_gate(target), fmt)
    gates_approval_view(done, ws.settings.environment, fmt).write()


def pause(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Start no new actions until `resume` (running ones finish)."""
    ws = workspace(project, env)
    s = ws.settings
    signal_apply(ws, "pause")
    print(f"paused the apply on {s.environment}: running actions finish, no new ones start")


def resume(project: ProjectOpt = None, env: EnvOpt = None) -> None:
    """Resume a paused apply."""
    ws = workspace(project, env)
    s = ws.settings
    signal_apply(ws, "resume")
    print(f"resumed the apply on {s.environment}")


def abort(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Recorded in history.")] = "aborted by user",
) -> None:
    """Stop the running apply: nothing new starts, rollouts in flight roll back, state keeps what happened."""
    ws = workspace(project, env)
    s = ws.settings
    signal_apply(ws, "abort", reason)
    print(f"abort requested on {s.environment}; watch it end with: modelplane status --env {s.environment} --watch")
