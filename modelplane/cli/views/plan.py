"""How a plan looks: text for a terminal, markdown for a pull request, JSON for tools; with its id and the
approvals the environment requires (``PlanNotes``) after the text and markdown reports."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from modelplane.cli.options import PlanFormat
from modelplane.cli.views.shown import Shown
from modelplane.compiler.report.terminal import safe_line

if TYPE_CHECKING:
    from modelplane.compiler.compile import PlanResult
    from modelplane.compiler.plan.model import Plan
    from modelplane.compiler.plan.notes import PlanNotes

__all__ = ["Shown", "notes_lines", "plan_text", "plan_view"]


def plan_text(plan: Plan, *, color: bool = False) -> str:
    """The terminal report alone (what ``apply`` shows before it asks)."""
    from modelplane.compiler.report.text import render

    return render(plan, color=color)


def notes_lines(notes: PlanNotes, code: str = "`") -> list[str]:
    """The plan's id, and who must approve it before apply where the environment's policy requires approvals."""
    env = safe_line(notes.environment)
    if notes.against_state:
        lines = [f"Plan id: {notes.id} (the plan `plan --out` saves, `apply` runs and `approve --plan` names)"]
    else:
        lines = [
            f"Plan id: {notes.id} (a plan against a git ref, for review; the plan to approve and apply is made "
            f"against the applied state of {env})"
        ]
    if notes.approvals:
        owners = ", ".join(safe_line(o) for o in notes.approvals)
        plan_id = notes.id if notes.against_state else "ID"
        lines.append(
            f"Approvals: {env} requires owners {owners} to approve before apply: each runs "
            f"{code}modelplane approve --plan {plan_id} --owner OWNER --env {env}{code}"
        )
        for owner, items in notes.approvals.items():
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            lines.append(f"  {safe_line(owner)}: {', '.join(safe_line(i) for i in items[:5])}{more}")
    return lines


def plan_view(
    result: PlanResult,
    fmt: PlanFormat,
    *,
    artifact: str | None,
    color: tuple[bool, bool],
    notes: PlanNotes | None = None,
) -> Shown:
    """The plan in ``fmt`` (``artifact``: the saved plan file the markdown report points at; ``notes``: its id
    and approvals, shown after a text or markdown report), its errors (and, but in JSON, its warnings) for
    stderr, and the exit code: 1 with errors, 2 with changes or work an earlier apply left (shown as such only
    with --detailed-exitcode), 0 with neither."""
    from modelplane.cli.views.diagnostics import to_text

    p = result.plan
    stdout, stderr = io.StringIO(), io.StringIO()
    if fmt == PlanFormat.json:
        stdout.write(p.model_dump_json(indent=2) + "\n")
    elif fmt == PlanFormat.markdown:
        from modelplane.compiler.report.markdown import render as render_md

        stdout.write(render_md(p, result.head.graph, result.base, artifact=artifact))
        if notes is not None:
            stdout.write("\n" + "\n\n".join(notes_lines(notes)) + "\n")
    else:
        stdout.write(plan_text(p, color=color[0]))
        if notes is not None:
            stdout.write("\n" + "\n".join(notes_lines(notes)) + "\n")
    shown = [*result.errors, *([] if fmt == PlanFormat.json else result.warnings)]
    if shown:
        stderr.write("\n" + to_text(shown, color=color[1]) + "\n")
    return Shown(stdout.getvalue(), stderr.getvalue(), 1 if result.errors else 2 if p.has_work else 0)
