"""How a command ends: one place maps errors to exit codes and output, and decides whether the process may
skip interpreter teardown.

Exit codes are part of the interface (``modelplane.exitcodes``): 0 success, 1 an error the user can fix
(printed as diagnostics, no traceback), 2 changes present (only ``plan --detailed-exitcode``) or a usage error
where that flag is not given, 3 an internal error (one line asking for a bug report; ``MODELPLANE_DEBUG=1``
shows the traceback), 130 detached by Ctrl-C while an apply goes on.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from modelplane import exitcodes
from modelplane.cli.formats import Format, color
from modelplane.errors import ModelplaneError

T = TypeVar("T")


QUICK_EXIT: list[bool] = []
"""Set by a command whose process should end without interpreter teardown (see ``main``)."""


MAIN: list[bool] = []
"""Set when this process is the `modelplane` command itself (not a test runner calling ``app``)."""


CHANGES: list[bool] = []
"""Set by ``plan_exit`` when it ends with 2 for changes: any other 2 is a usage error (see ``end_code``)."""


def fail(exc: ModelplaneError, fmt: Format = Format.text) -> NoReturn:
    from modelplane.cli.views.diagnostics import errors_view

    errors_view(exc.diagnostics, fmt, color=color(sys.stderr)).write()
    ends(exc.exit_code)


def guard(fn: Callable[[], T], fmt: Format = Format.text) -> T:
    try:
        return fn()
    except ModelplaneError as exc:
        fail(exc, fmt)


def plan_exit(code: int, detailed: bool) -> NoReturn:
    ended = exitcodes.plan_code(code, detailed)
    if ended == exitcodes.CHANGES:
        CHANGES.append(True)
    ends(ended)


def ends(code: int) -> NoReturn:
    """End the command with ``code``: by ``SystemExit``, which ``run_main`` maps; or, in the `modelplane` process of
    a command that skips teardown (``QUICK_EXIT``), here and now. The frames between here and ``run_main`` hold the
    compiled graph, and unwinding them freed it object by object (~40 ms of a cold 10,000-node plan)."""
    if QUICK_EXIT and MAIN:
        _write_timings()  # as run_main would on the way out
        _flushed_exit(end_code(code, sys.argv[1:]))
    raise SystemExit(code)


def _write_timings() -> None:
    """The stage timings ``MODELPLANE_TIMINGS`` asks for, on stderr as the command ends."""
    from modelplane.workspace import Workspace

    report = Workspace.timings_report()
    if report:
        print(report, file=sys.stderr)


class _Pacified:
    """A stream whose reader went away: flushing it is no error (as click's ``PacifyFlushWrapper``)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def flush(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _flushed_exit(code: int | str | None) -> NoReturn:
    """``os._exit`` once the output is flushed: no interpreter teardown (``sys.exit("message")`` prints it, exits 1)."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def end_code(code: int | str | None, argv: list[str]) -> int | str | None:
    """The process's exit code: a usage error (typer's 2) where ``--detailed-exitcode`` was given exits 1, so
    a script never reads it as "changes"."""
    if code == exitcodes.USAGE and not CHANGES and "--detailed-exitcode" in argv:
        return exitcodes.USER_ERROR
    return code


def internal_error(exc: BaseException) -> int:
    """An exception no command expected (a bug): one line asking for a bug report, or with ``MODELPLANE_DEBUG=1``
    the traceback; exit 3."""
    from modelplane import __version__

    if exitcodes.debugging():
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(exitcodes.bug_report(exc, __version__), file=sys.stderr)
    return exitcodes.INTERNAL


def missing_extra(exc: ModuleNotFoundError) -> None:
    """A command whose optional extra is not installed: one line naming the extra, exit 1; a module no extra
    provides returns (a bug: the caller reports it as one)."""
    from modelplane.extras import command_of, extra_for, needs_extra_message

    extra = extra_for(exc)
    if extra is None:
        return
    print(f"error: {needs_extra_message(command_of(sys.argv[1:]), extra, exc.name)}", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(1) from None


def run_main(app: Callable[[], Any]) -> None:
    """Run the app as the `modelplane` process: errors become exit codes, and a command that set
    ``QUICK_EXIT`` ends without interpreter teardown once its output is flushed."""
    from modelplane import pydantic_plugins

    pydantic_plugins.disable()  # before pydantic builds a validator: its plugin discovery costs ~35 ms
    code: int | str | None = 0
    MAIN.append(True)
    from modelplane.extras import missing_for

    needs = missing_for(sys.argv[1:])
    if needs is not None:
        print(f"error: {needs}", file=sys.stderr)
        raise SystemExit(1)
    ended = True  # by an exit code, not by returning
    try:
        app()
        ended = False
    except SystemExit as exc:
        code = end_code(exc.code, sys.argv[1:])
    # typer's own endings, for a command run without it (the entry point's fast path, ``modelplane.quick``)
    except KeyboardInterrupt:
        code = exitcodes.INTERRUPTED  # Ctrl-C: no traceback, the shell's code for it
    except BrokenPipeError:  # the reader went away (`plan | head`): nothing more to say, exit 1
        sys.stdout, sys.stderr = _Pacified(sys.stdout), _Pacified(sys.stderr)
        code = exitcodes.USER_ERROR
    except Exception as exc:  # a bug: typer lets it through (pretty_exceptions off)
        if isinstance(exc, ModuleNotFoundError):
            missing_extra(exc)  # a missing optional extra is the user's to install: one line, exit 1
        code = internal_error(exc)
    finally:
        _write_timings()
    if QUICK_EXIT:
        _flushed_exit(code)
    if ended:
        raise SystemExit(code)
