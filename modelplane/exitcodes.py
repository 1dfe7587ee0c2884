"""The exit codes of the ``modelplane`` command, in one place: the CLI and the fast path (``quick.py``) both map
results through here, so a memoized ``plan`` ends exactly as a computed one.

0 success; 1 an error the user can fix (a ``ModelplaneError``: printed as diagnostics); 2 changes present, and
only from ``plan --detailed-exitcode`` (as terraform); 3 an internal error (a bug: one line asking for a bug
report); 130 interrupted by Ctrl-C. A usage error (an unknown option, a missing argument) keeps typer's 2, except where
``--detailed-exitcode`` is given: there 2 means changes, so a usage error exits 1.

Nothing here imports more than the standard library: ``quick.py`` reads it before the CLI is imported.
"""

from __future__ import annotations

import os

OK = 0
USER_ERROR = 1
CHANGES = 2
USAGE = 2
INTERNAL = 3
INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), as typer ends a command it interrupts; ``apply`` says the apply goes on."""

DEBUG_VAR = "MODELPLANE_DEBUG"
"""Set to 1 to see an internal error's traceback instead of the one-line bug report."""


def plan_code(code: int, detailed: bool) -> int:
    """A plan's exit code (1 errors, 2 work to do, 0 neither) as the command ends: 2 only with
    ``--detailed-exitcode``."""
    return USER_ERROR if code == USER_ERROR else CHANGES if code == CHANGES and detailed else OK


def debugging() -> bool:
    return os.environ.get(DEBUG_VAR, "") not in ("", "0")


def bug_report(exc: BaseException, version: str) -> str:
    """The one line an internal error prints: what it was, that it is a bug, where to report it, how to see more."""
    what = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return (
        f"internal error (a bug in modelplane {version}): {what}; please report it as an issue of the modelplane "
        f"project (its tracker, or to whoever maintains your install) with the command you ran and the traceback, "
        f"which `{DEBUG_VAR}=1 modelplane ...` prints"
    )
