"""Hostile strings in specs cannot change what a report says: markdown stays one cell, one fence; terminals get no escapes.

The markdown checks parse the comment with markdown-it (CommonMark plus GFM
tables, as GitHub renders it) and look at the structure, not at substrings.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markdown_it import MarkdownIt
from markdown_it.token import Token

from modelplane.cli.views.diagnostics import to_text
from modelplane.compiler.compile import PlanResult, make_plan
from modelplane.compiler.report.markdown import fence_for, md_code, md_escape
from modelplane.compiler.report.markdown import render as render_markdown
from modelplane.compiler.report.terminal import safe, safe_line
from modelplane.compiler.report.text import render as render_text
from modelplane.errors import Diagnostic, Location
from tests.conftest import GitProject

OWNER = "evil | <script>alert(1)</script> *team*"
# a version that closes a 3-backtick fence and writes a verdict after it
VERSION = "1.1.0\n```\n\nNo changes: safe to merge\n\n```"
ESC_OWNER = "team\x1b[2J\x1b[31mgone\r\u202e"
SGR = re.compile(r"\x1b\[\d+m")


def _parse(markdown: str) -> list[Token]:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown)


def _inline_text(tok: Token) -> str:
    return "".join(c.content for c in tok.children or [] if c.type in ("text", "code_inline", "softbreak"))


def _hostile_plan(git_example: Callable[[str], GitProject]) -> PlanResult:
    gp = git_example("quickstart")
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1.0\\n```\\n\\nNo changes: safe to merge\\n\\n```"')
    gp.edit("specs/serving.yaml", "owner: team-support-tools", 'owner: "evil | <script>alert(1)</script> *team*"')
    gp.commit("hostile")
    return make_plan(gp.root, base_ref="HEAD~1", use_cache=False)


def test_markdown_keeps_an_owner_with_pipes_and_html_in_one_cell(git_example: Callable[[str], GitProject]) -> None:
    result = _hostile_plan(git_example)
    tokens = _parse(render_markdown(result.plan, result.head.graph, result.base))
    html = [t.content for t in tokens if t.type == "html_block"]
    html += [c.content for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "html_inline"]
    assert not any("script" in h for h in html), html  # only the template's own <details>/<summary>
    cells = [_inline_text(t) for t in tokens if t.type == "inline"]
    assert OWNER in cells  # the Changes row and the Owners row each hold it whole, as text
    assert not any("<em>" in c or c == "team" for c in cells)
    # every row of every table has its header's number of cells, none cut off by a stray pipe
    rows: list[int] = []
    for t in tokens:
        if t.type == "tr_open":
            rows.append(0)
        elif t.type in ("th_open", "td_open"):
            rows[-1] += 1
    assert rows and all(n in (3, 4, 6) for n in rows)


def test_markdown_fences_outlast_backticks_in_a_version(git_example: Callable[[str], GitProject]) -> None:
    result = _hostile_plan(git_example)
    markdown = render_markdown(result.plan, result.head.graph, result.base)
    tokens = _parse(markdown)
    outside = [_inline_text(t) for t in tokens if t.type == "inline"]
    outside += [t.content for t in tokens if t.type in ("html_block", "text")]
    assert not any("safe to merge" in text and "1.1.0" not in text for text in outside), outside
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.info for f in fences] == ["mermaid", ""]
    full_plan = fences[1].content
    assert "No changes: safe to merge" in full_plan and full_plan.startswith("Plan: 0 to create, 2 to update")
    assert markdown.rstrip().endswith("<!-- modelplane-plan-comment -->")
    assert [t.type for t in tokens][-1] == "html_block"  # the marker is still the last block, not in a fence


def test_markdown_escape_helpers() -> None:
    assert md_escape("a|b <i>x</i> & *y* [l](u) `c`") == (r"a\|b &lt;i>x&lt;/i> &amp; \*y\* \[l\](u) \`c\`")
    assert md_escape("two\nlines\x1b[1m") == "two lines\\\\x1b\\[1m"
    assert md_code("a ``b`` c") == "```a ``b`` c```"
    assert md_code("`x") == "`` `x ``"
    assert md_code("p|q") == "`p\\|q`"
    assert fence_for("no ticks") == "```"
    assert fence_for("x ```` y\n`````") == "``````"


def test_text_plan_escapes_control_characters(git_example: Callable[[str], GitProject]) -> None:
    gp = git_example("quickstart")
    gp.edit("specs/serving.yaml", "owner: team-support-tools", 'owner: "team\\e[2J\\e[31mgone\\r\\u202e"')
    gp.edit("specs/model.yaml", 'version: "1.0.0"', 'version: "1.1\\e]0;pwned\\a"')
    gp.commit("escapes")
    result = make_plan(gp.root, base_ref="HEAD~1", use_cache=False)
    plain = render_text(result.plan)
    assert "\x1b" not in plain and "\r" not in plain and "\u202e" not in plain and "\x07" not in plain
    assert 'spec.version: "1.0.0" -> "1.1\\x1b]0;pwned\\x07"' in plain
    assert "team\\x1b[2J\\x1b[31mgone\\r\\u202e" in plain
    coloured = render_text(result.plan, color=True)
    assert "\x1b" not in SGR.sub("", coloured)  # only the report's own colours reach the terminal
    markdown = render_markdown(result.plan, result.head.graph, result.base)
    assert "\x1b" not in markdown and "\u202e" not in markdown


def test_diagnostics_escape_control_characters_and_keep_the_caret_under_the_value() -> None:
    snippet = 'owner: "\x1b[2Jteam" tier: high'
    column = snippet.index("high") + 1
    d = Diagnostic(
        "invalid-value",
        "tier: expected an integer, got `\x1b[31mhigh`\nsecond line",
        Location("specs/\x1b[1ma.yaml", 3, column),
        hint="use 0\x07..3",
        snippet=snippet,
        width=4,
    )
    out = to_text([d])
    assert "\x1b" not in out and "\x07" not in out
    lines = out.splitlines()
    assert lines[0] == "error[invalid-value]: tier: expected an integer, got `\\x1b[31mhigh`"
    assert lines[1] == "second line"  # a message's own newline stays
    shown = next(line for line in lines if line.startswith("3 | "))
    caret = lines[lines.index(shown) + 1]
    assert shown[caret.index("^") : caret.index("^") + 4] == "high" and caret.endswith("^^^^")
    assert "specs/\\x1b[1ma.yaml:3:" in out and "use 0\\x07..3" in out
    coloured = to_text([d], color=True)
    assert "\x1b" not in SGR.sub("", coloured)


def test_terminal_helpers() -> None:
    assert safe("a\tb\nc\x1b\x9b\u2066") == "a\tb\nc\\x1b\\x9b\\u2066"
    assert safe_line("a\tb\nc") == "a\\tb\\nc"
    assert safe_line("plain ascii, ünïcode ✓") == "plain ascii, ünïcode ✓"
