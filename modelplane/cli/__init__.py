"""The ``modelplane`` command line: commands parse arguments, call the compiler or the runtime, and show
what comes back.

The typer app (``commands``) is built on first use, not on import of this package: the entry point's fast path
(``modelplane.quick``) runs `plan --base` through ``plan_command`` without typer, and importing any module here
would otherwise import typer and every command group.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    from modelplane.cli.commands import main as run

    run()


def __dir__() -> list[str]:
    # typer's own CLI (`typer modelplane.cli utils docs`) finds the app by listing the module
    return sorted([*globals(), "app", "COMMANDS"])


def __getattr__(name: str) -> Any:
    # ``from modelplane.cli import app`` (tests, the docs generator): the app, built now
    if name in ("app", "COMMANDS"):
        from modelplane.cli import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
