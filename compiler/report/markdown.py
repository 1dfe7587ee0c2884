"""Plan as a pull-request comment (markdown from a jinja2 template).

Stays readable for 1,000-node changes: every table and list is cut at
``limit`` rows with a count of the rest, and the mermaid graph at
``MERMAID_MAX`` nodes.

The comment is posted where reviewers decide, so nothing a spec, the state or
git supplies may change its structure: every such string goes through ``md``
(prose, table cells) or ``code`` (inline code), and each fenced block gets a
fence longer than any backtick run inside it. An owner like ``a | <script>``
stays one table cell of text, and a version string cannot close the full
plan's fence to write its own verdict below it.
"""

from __future__ import annotations

import re
from importlib import resources

import jinja2

from modelplane.compiler.capacity.lines import money, price_note, signed_money
from modelplane.compiler.capacity.lines import shown as capacity_shown
from modelplane.compiler.change.impact import CATEGORY_ORDER
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.plan.model import DUTY_TITLES, Plan, owners_by_duty
from modelplane.compiler.report.graph import mermaid
from modelplane.compiler.report.terminal import safe_line
from modelplane.compiler.report.text import SYMBOLS, _change_detail
from modelplane.compiler.report.text import render as render_text
from modelplane.compiler.timings import timed
from modelplane.specs.base import NodeId

MERMAID_MAX = 60


# `>` alone opens nothing once `<` is escaped (and a cell or list item never starts a line, so no blockquote)
_HTML = {"&": "&amp;", "<": "&lt;"}
# markdown's inline punctuation (emphasis, links, code, tables, strike-through, images) and the escape itself
_MD_PUNCT = re.compile(r"([\\`*_\[\]|~!#])")
_BACKTICKS = re.compile(r"`+")


def md_escape(value: object) -> str:
    """Text safe in markdown prose and table cells: no cell breaks, no markup, no raw HTML, one line."""
    text = safe_line(str(value).replace("\n", " "))
    text = "".join(_HTML.get(ch, ch) for ch in text)
    return _MD_PUNCT.sub(r"\\\1", text)


def md_code(value: object) -> str:
    """``value`` as inline code: delimited by more backticks than any run inside, cell breaks escaped."""
    text = safe_line(str(value).replace("\n", " ")).replace("|", "\\|")
    fence = "`" * (1 + max((len(m) for m in _BACKTICKS.findall(text)), default=0))
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fence_for(text: str, minimum: int = 3) -> str:
    """A backtick fence that no line of ``text`` can close: longer than any backtick run in it."""
    return "`" * max(minimum, 1 + max((len(m) for m in _BACKTICKS.findall(text)), default=0))


OWNER_ROWS = 12
"""Owners shown per duty in the markdown report (the full list is in the plan block and --out)."""


COMMENT_BUDGET = 60_000
"""Characters a report may take: GitHub cuts comments at 65,536, and the CI example adds a line or two."""


@timed("report")
def render(
    plan: Plan,
    graph: LineageGraph,
    base: LineageGraph | None = None,
    limit: int = 50,
    artifact: str | None = None,
) -> str:
    """The pull-request report. Under ``COMMENT_BUDGET`` whatever the change: when the full plan
    would not fit, a line points at ``artifact`` (the ``--out`` file) instead of inlining it."""
    full = _render(plan, graph, limit, artifact, inline_plan=True)
    if len(full) <= COMMENT_BUDGET:
        return full
    out = _render(plan, graph, limit, artifact, inline_plan=False)
    for smaller in (20, 10, 5):  # still too long (thousands of changes with long names): fewer rows
        if len(out) <= COMMENT_BUDGET:
            break
        out = _render(plan, graph, smaller, artifact, inline_plan=False)
    return out


def _render(plan: Plan, graph: LineageGraph, limit: int, artifact: str | None, inline_plan: bool) -> str:
    template_text = (resources.files("modelplane.templates") / "reports" / "plan.md.j2").read_text()
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, trim_blocks=False)
    env.filters["md"] = md_escape
    env.filters["code"] = md_code
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
    text_plan = render_text(plan)
    graph_text = mermaid(graph, set(shown), classes)
    return template.render(
        plan=plan,
        limit=limit,
        capacity=capacity_shown(plan.capacity)[:limit],
        money=money,
        signed_money=signed_money,
        price_note=price_note,
        symbols=SYMBOLS,
        categories=CATEGORY_ORDER,
        details=lambda ch: _change_detail(ch, md_escape, md_code),
        mermaid=graph_text,
        mermaid_fence=fence_for(graph_text),
        mermaid_truncated=len(focus) > MERMAID_MAX,
        mermaid_shown=len(shown),
        mermaid_total=len(focus),
        text_plan=text_plan if inline_plan else None,
        text_fence=fence_for(text_plan),
        plan_chars=len(text_plan),
        artifact=artifact,
        owners_by_duty=owners_by_duty(plan),
        owner_rows=OWNER_ROWS,
        duty_titles=DUTY_TITLES,
    )
