"""How a plan looks: text for a terminal, markdown for a pull request, JSON for tools."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelplane.cli.options import PlanFormat

if TYPE_CHECKING:
    from modelplane.compiler.compile import PlanResult


@dataclass
class Shown:
    """What a command writes: its two streams and its exit code, kept together so they can be memoized."""

    stdout: str
    stderr: str
    code: int


def plan_view(result: PlanResult, fmt: PlanFormat, *, artifact: str | None, color: tuple[bool, bool]) -> Shown:
    """The plan in ``fmt`` (``artifact``: the saved plan file the markdown report points at), its errors
    (and, but in JSON, its warnings) for stderr, and the exit code: 1 with errors, 2 with changes or work
    an earlier apply left (shown as such only with --detailed-exitcode), 0 with neither."""
    from modelplane.cli.views.diagnostics import to_text

    p = result.plan
    stdout, stderr = io.StringIO(), io.StringIO()
    if fmt == PlanFormat.json:
        stdout.write(p.model_dump_json(indent=2) + "\n")
    elif fmt == PlanFormat.markdown:
        from modelplane.compiler.report.markdown import render as render_md

        stdout.write(render_md(p, result.head.graph, result.base, artifact=artifact))
    else:
        from modelplane.compiler.report.text import render as render_text

        stdout.write(render_text(p, color=color[0]))
    shown = [*result.errors, *([] if fmt == PlanFormat.json else result.warnings)]
    if shown:
        stderr.write("\n" + to_text(shown, color=color[1]) + "\n")
    return Shown(stdout.getvalue(), stderr.getvalue(), 1 if result.errors else 2 if p.has_work else 0)
