"""How a command ends: one place maps errors to exit codes and output, and decides whether the process may
skip interpreter teardown.

Exit codes are part of the interface: 0 success, 1 an error the user can fix (printed as diagnostics, no
traceback), 2 changes present (``plan --detailed-exitcode``) or a usage error, 130 detached by Ctrl-C while
an apply goes on.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer

from modelplane.cli.options import Format, color
from modelplane.errors import ModelplaneError

T = TypeVar("T")


QUICK_EXIT: list[bool] = []
"""Set by a command whose process should end without interpreter teardown (see ``main``)."""


MAIN: list[bool] = []
"""Set when this process is the `modelplane` command itself (not a test runner calling ``app``)."""


def fail(exc: ModelplaneError, fmt: Format = Format.text) -> NoReturn:
    from modelplane.cli.views.diagnostics import to_json, to_text

    if fmt == Format.json:
        print(json.dumps({"ok": False, "errors": to_json(exc.diagnostics)}, indent=2))
    else:
        print(to_text(exc.diagnostics, color=color(sys.stderr)), file=sys.stderr)
    raise typer.Exit(exc.exit_code)


def guard(fn: Callable[[], T], fmt: Format = Format.text) -> T:
    try:
        return fn()
    except ModelplaneError as exc:
        fail(exc, fmt)


def plan_exit(code: int, detailed: bool) -> NoReturn:
    raise typer.Exit(1 if code == 1 else 2 if code == 2 and detailed else 0)


def missing_extra(exc: ModuleNotFoundError) -> NoReturn:
    """A command whose optional extra is not installed: one line naming the extra, exit 1 (a module no
    extra provides is a bug, and its traceback stays)."""
    from modelplane.extras import command_of, extra_for, needs_extra_message

    extra = extra_for(exc)
    if extra is None:
        raise exc
    print(f"error: {needs_extra_message(command_of(sys.argv[1:]), extra, exc.name)}", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(1) from None


def run_main(app: Callable[[], Any]) -> None:
    """Run the app as the `modelplane` process: errors become exit codes, and a command that set
    ``QUICK_EXIT`` ends without interpreter teardown once its output is flushed."""
    # pydantic's plugin discovery scans every installed distribution's entry points
    # (~15 ms per run); modelplane uses no pydantic plugins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    from modelplane.compiler import timings

    code: int | str | None = 0
    MAIN.append(True)
    from modelplane.extras import missing_for

    needs = missing_for(sys.argv[1:])
    if needs is not None:
        print(f"error: {needs}", file=sys.stderr)
        raise SystemExit(1)
    try:
        app()
    except SystemExit as exc:
        code = exc.code
        if not QUICK_EXIT:
            raise
    except ModuleNotFoundError as exc:
        missing_extra(exc)
    finally:
        if timings.ENABLED and timings.totals():
            print(timings.report(), file=sys.stderr)
    if QUICK_EXIT:
        if isinstance(code, str):  # sys.exit("message") prints it and exits 1
            print(code, file=sys.stderr)
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
