"""Plan as a pull-request comment (markdown from a jinja2 template).

Stays readable for 1,000-node changes: every table and list is cut at
``limit`` rows with a count of the rest, and the mermaid graph at
``MERMAID_MAX`` nodes.
"""

from __future__ import annotations

from importlib import resources

import jinja2
from modelplane.compiler.graph import LineageGraph
from modelplane.compiler.impact import CATEGORY_ORDER
from modelplane.compiler.planfile import Plan
from modelplane.compiler.report_graph import mermaid
from modelplane.compiler.report_text import SYMBOLS, _change_detail
from modelplane.compiler.report_text import render as render_text
from modelplane.compiler.timings import timed
from modelplane.specs.base import NodeId

MERMAID_MAX = 60


def md_escape(value: object) -> str:
    """Text safe inside a markdown table cell: no cell breaks, no raw HTML."""
    return str(value).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


@timed("report")
def render(plan: Plan, graph: LineageGraph, base: LineageGraph | None = None, limit: int = 50) -> str:
    template_text = (resources.files("modelplane.templates") / "reports" / "plan.md.j2").read_text()
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, trim_blocks=False)
    env.filters["md"] = md_escape
    template = env.from_string(template_text)
    changed = {NodeId.parse(c.id) for c in plan.changes}
    affected = {NodeId.parse(i.id) for i in plan.impact if i.category != "unaffected"}
    focus = sorted(n for n in changed | affected if n in graph.nodes)
    shown = focus[:MERMAID_MAX]
    classes = {n: ("changed" if n in changed else "affected") for n in shown}
    for i in plan.impact:
        nid = NodeId.parse(i.id)
        if i.category == "broken" and nid in classes:
            classes[nid] = "broken"
    return template.render(
        plan=plan,
        limit=limit,
        symbols=SYMBOLS,
        categories=CATEGORY_ORDER,
        details=_change_detail,
        mermaid=mermaid(graph, set(shown), classes),
        mermaid_truncated=len(focus) > MERMAID_MAX,
        mermaid_shown=len(shown),
        mermaid_total=len(focus),
        text_plan=render_text(plan),
    )
