"""The rich console the commands that follow an apply print to.

On a terminal it is as wide as the terminal. Off one (a pipe, a file, a CI log) lines are never wrapped:
rich's default would break them at 80 columns, and a fixed width breaks a long path or URL mid-word; a log
reader's own viewer wraps, and ``grep`` finds the whole line.
"""

from __future__ import annotations

import sys
from typing import Any

from modelplane.cli.formats import color


def make_console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return Console(file=stream, force_terminal=True, no_color=not color(stream), highlight=False)
    # soft_wrap: print never inserts a line break; the width only bounds tables (drawn on terminals alone)
    return Console(file=stream, force_terminal=False, no_color=True, highlight=False, soft_wrap=True, width=10_000)
