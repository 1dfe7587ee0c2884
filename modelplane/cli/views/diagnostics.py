"""Diagnostics as text (rustc-style, with the source line and a caret) or JSON.

Messages, snippets, paths and hints quote spec files: in text, control
characters in them are shown escaped (``compiler/report/terminal.py``), never sent to
the terminal, and the caret is placed under the escaped line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelplane.cli.formats import Format
from modelplane.cli.views.shown import Shown
from modelplane.compiler.report.terminal import safe, safe_line
from modelplane.compiler.report.words import plural, plural_of
from modelplane.errors import Diagnostic

SHOWN_PER_WARNING = 5
"""How many warnings of one code are written out in full; the rest are counted on one line. A cold plan of a
10,000-node project with no capacity profiles had one ``no-profile`` warning per endpoint: 832 of them, ~5,000
lines before the plan. Errors are always shown whole; ``validate --format json`` lists every warning."""


def to_text(diagnostics: Sequence[Diagnostic], color: bool = False, shown_per_warning: int | None = None) -> str:
    """rustc-style blocks and a summary line; with ``shown_per_warning``, warnings of one code past that many are
    counted (with their files) instead of written out."""
    red, yellow, blue, bold, cyan, reset = (
        ("\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[1m", "\x1b[36m", "\x1b[0m") if color else ("",) * 6
    )
    blocks: list[str] = []
    shown: dict[str, int] = {}  # warnings written out, per code
    more: dict[str, list[Diagnostic]] = {}  # and those only counted
    for d in diagnostics:
        if d.severity != "error" and shown_per_warning is not None:
            if shown.get(d.code, 0) >= shown_per_warning:
                more.setdefault(d.code, []).append(d)
                continue
            shown[d.code] = shown.get(d.code, 0) + 1
        tone = red if d.severity == "error" else yellow
        # a plain message error has no code of its own to show (not "error[error]")
        label = d.severity if d.code == d.severity else f"{d.severity}[{d.code}]"
        lines = [f"{bold}{tone}{safe_line(label)}{reset}{bold}: {safe(d.message)}{reset}"]
        if d.location is not None:
            loc = d.location
            gutter = " " * len(str(loc.line))
            lines.append(f"{gutter}{blue}-->{reset} {safe_line(loc)}")
            if d.snippet is not None:
                before = safe_line(d.snippet[: loc.column - 1])
                under = safe_line(d.snippet[loc.column - 1 : loc.column - 1 + max(1, d.width)])
                caret = " " * len(before) + "^" * max(1, d.width, len(under))
                lines.append(f"{gutter} {blue}|{reset}")
                lines.append(f"{blue}{loc.line} |{reset} {safe_line(d.snippet)}")
                lines.append(f"{gutter} {blue}|{reset} {red}{caret}{reset}")
        for message, where in d.related:
            lines.append(f"   {blue}= note:{reset} {safe(message)}: {safe_line(where)}")
        if d.environments:
            lines.append(
                f"   {blue}= in {plural_of('environment', len(d.environments))}:{reset} "
                + safe(", ".join(d.environments))
            )
        if d.hint:
            lines.append(f"   {cyan}= hint:{reset} {safe(d.hint)}")
        blocks.append("\n".join(lines))
    for code, rest in more.items():
        in_files = {d.location.file for d in rest if d.location}
        place = f" in {plural(len(in_files), 'file')}" if in_files else ""
        blocks.append(
            f"{bold}{yellow}{safe_line(rest[0].severity)}[{safe_line(code)}]{reset}{bold}: "
            f"{plural(len(rest), 'more ' + rest[0].severity)} "
            f"like these{place}, not shown{reset}\n"
            f"   {cyan}= hint:{reset} `modelplane validate --format json` lists every warning"
        )
    files = {d.location.file for d in diagnostics if d.location}
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    parts = [plural(errors, "error")] if errors else []
    if warnings:
        parts.append(plural(warnings, "warning"))
    summary = " and ".join(parts)
    if files:
        summary += f" in {plural(len(files), 'file')}"
    return "\n\n".join(blocks) + f"\n\n{bold}{red if errors else ''}{summary}{reset}"


def to_json(diagnostics: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    return [d.to_json() for d in diagnostics]


def errors_view(diagnostics: Sequence[Diagnostic], fmt: Format, *, color: bool = False) -> Shown:
    """A command's errors: one JSON document on stdout (``--format json``), else text on stderr."""
    if fmt == Format.json:
        import json

        return Shown(json.dumps({"ok": False, "errors": to_json(diagnostics)}, indent=2) + "\n")
    return Shown("", to_text(diagnostics, color=color) + "\n")
