"""What `modelplane plan` does, free of the CLI framework: typer's `plan` command runs it, and so does the entry
point's fast path (``modelplane.quick``) for ``plan --base REF`` when no memoized answer is there, sparing typer's
import and argument coercion (~40 ms of a cold plan)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from modelplane.cli.exit import guard, plan_exit
from modelplane.cli.formats import PlanFormat, color, errors_format
from modelplane.cli.project import compile_root
from modelplane.cli.views.plan import plan_view
from modelplane.workspace import Workspace

MEMOIZED = (PlanFormat.text, PlanFormat.json)


def run_plan(
    project: Path | None = None,
    env: str | None = None,
    base: str | None = None,
    out: Path | None = None,
    fmt: PlanFormat = PlanFormat.text,
    detailed_exitcode: bool = False,
    allow_breaking: bool = False,
    no_cache: bool = False,
    select: str | None = None,
    exclude: str | None = None,
) -> None:
    """Diff the specs against the applied state (or ``base``), show every change with its impact, and exit with
    the plan's code (``plan_exit``)."""
    errors_as = errors_format(fmt)
    root = compile_root(project)
    memo_key = None
    head_scan = None
    git = None
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=note_unfinished)
    if base is not None:
        head_scan = guard(ws.scan, errors_as)
        git = guard(lambda: ws.git_source(base), errors_as)
    # a markdown report points at its --out artifact by name: it is never memoized
    if head_scan is not None and git is not None and out is None and not no_cache and fmt in MEMOIZED:
        from modelplane import plan_memo

        if not head_scan.problems:
            flags = {
                "fmt": fmt.value,
                "allow_breaking": allow_breaking,
                "color": [color(sys.stdout), color(sys.stderr)],
                "select": select,
                "exclude": exclude,
            }
            memo_key = plan_memo.key(head_scan, root, git.commit, **flags)
            hit = plan_memo.get(root, memo_key)
            if hit is not None:
                sys.stdout.write(hit["stdout"])
                sys.stderr.write(hit["stderr"])
                plan_exit(hit["code"], detailed_exitcode)
    result = guard(
        lambda: ws.plan(
            base,
            allow_breaking=allow_breaking,
            select=select,
            exclude=exclude,
            head_scan=head_scan,
            base_source=git,
        ),
        errors_as,
    )
    saved_as = out.name if out is not None and not result.errors else None  # the artifact the report points at
    # the id and approvals of a plan that could be applied (made only where the view shows them)
    notes = (
        (lambda: guard(lambda: ws.plan_notes(result), errors_as))
        if result.plan.has_work and not result.errors
        else None
    )
    shown = plan_view(result, fmt, artifact=saved_as, color=(color(sys.stdout), color(sys.stderr)), notes=notes)
    if memo_key is not None:
        from modelplane import plan_memo

        plan_memo.put(root, memo_key, shown.stdout, shown.stderr, shown.code)
    shown.write()
    if result.errors and out is not None:
        print(f"plan not saved to {out}: fix the errors above or pass --allow-breaking", file=sys.stderr)
    if not result.errors and out is not None:
        saved = ws.save_plan(result, out)
        if saved.base.kind == "state":
            print(f"saved plan {saved.id} to {out}; apply it with: modelplane apply {out}", file=sys.stderr)
        else:  # a review artifact: apply refuses a plan that was not made against the applied state
            print(
                f"saved plan {saved.id} to {out} (against git ref `{saved.base.ref}`: for review; to apply, "
                "make one against the applied state: modelplane plan --out FILE, without --base)",
                file=sys.stderr,
            )
    plan_exit(shown.code, detailed_exitcode)


def note_unfinished(running: Any) -> None:
    """What a command compiling against the applied state says when an apply there has not finished."""
    env = running.environment
    print(
        f"note: apply {running.apply_id} on {env} has not finished; this plan shows the state so far "
        f"(`modelplane status --env {env}` re-attaches to it)",
        file=sys.stderr,
    )
