"""How a plan looks: text for a terminal, markdown for a pull request, JSON for tools; with its id and the
approvals the environment requires (``PlanNotes``) after the text and markdown reports."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from modelplane.cli.formats import PlanFormat
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
    lines = []
    if notes.id is not None:
        lines.append(f"Plan id: {notes.id} (the plan `plan --out` saves, `apply` runs and `approve --plan` names)")
    if notes.approvals:
        owners = ", ".join(safe_line(o) for o in notes.approvals)
        if notes.id is not None:
            how = f"each runs {code}modelplane approve --plan {notes.id} --owner OWNER --env {env}{code}"
        else:  # a review against a git ref: the plan to approve is made against the applied state once merged
            how = f"{code}modelplane plan --env {env}{code} against the applied state shows the id they approve"
        lines.append(f"Approvals: {env} requires owners {owners} to approve before apply: {how}")
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
    notes: Callable[[], PlanNotes] | None = None,
) -> Shown:
    """The plan in ``fmt`` (``artifact``: the saved plan file the markdown report points at; ``notes``: its id
    and approvals, asked for only by a text or markdown report), its errors (and, but in JSON, its warnings) for
    stderr, and the exit code: 1 with errors, 2 with changes or work an earlier apply left (shown as such only
    with --detailed-exitcode), 0 with neither."""
    from modelplane.cli.views.diagnostics import SHOWN_PER_WARNING, to_text

    p = result.plan
    stdout, stderr = io.StringIO(), io.StringIO()
    if fmt == PlanFormat.json:
        stdout.write(p.model_dump_json(indent=2) + "\n")
    elif fmt == PlanFormat.markdown:
        from modelplane.compiler.report.markdown import render as render_md

        stdout.write(render_md(p, result.head.graph, result.base, artifact=artifact))
        said = notes_lines(notes()) if notes is not None else []
        stdout.write("".join(f"\n{line}\n" for line in said))
    else:
        stdout.write(plan_text(p, color=color[0]))
        said = notes_lines(notes()) if notes is not None else []
        stdout.write("\n" + "\n".join(said) + "\n" if said else "")
    shown = [*result.errors, *([] if fmt == PlanFormat.json else result.warnings)]
    if shown:
        stderr.write("\n" + to_text(shown, color=color[1], shown_per_warning=SHOWN_PER_WARNING) + "\n")
    return Shown(stdout.getvalue(), stderr.getvalue(), 1 if result.errors else 2 if p.has_work else 0)
