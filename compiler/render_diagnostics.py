"""Diagnostics as text (rustc-style, with the source line and a caret) or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelplane.compiler.errors import Diagnostic


def to_text(diagnostics: Sequence[Diagnostic], color: bool = False) -> str:
    red, blue, bold, cyan, reset = ("\x1b[31m", "\x1b[34m", "\x1b[1m", "\x1b[36m", "\x1b[0m") if color else ("",) * 5
    blocks: list[str] = []
    for d in diagnostics:
        lines = [f"{bold}{red}error[{d.code}]{reset}{bold}: {d.message}{reset}"]
        if d.location is not None:
            loc = d.location
            gutter = " " * len(str(loc.line))
            lines.append(f"{gutter}{blue}-->{reset} {loc}")
            if d.snippet is not None:
                caret = " " * (loc.column - 1) + "^" * max(1, d.width)
                lines.append(f"{gutter} {blue}|{reset}")
                lines.append(f"{blue}{loc.line} |{reset} {d.snippet}")
                lines.append(f"{gutter} {blue}|{reset} {red}{caret}{reset}")
        for message, where in d.related:
            lines.append(f"   {blue}= note:{reset} {message}: {where}")
        if d.hint:
            lines.append(f"   {cyan}= hint:{reset} {d.hint}")
        blocks.append("\n".join(lines))
    files = {d.location.file for d in diagnostics if d.location}
    n = len(diagnostics)
    summary = f"{n} error{'s' if n != 1 else ''}"
    if files:
        summary += f" in {len(files)} file{'s' if len(files) != 1 else ''}"
    return "\n\n".join(blocks) + f"\n\n{bold}{red}{summary}{reset}"


def to_json(diagnostics: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    return [d.to_json() for d in diagnostics]
