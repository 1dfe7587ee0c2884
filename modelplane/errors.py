"""Errors users can cause, as structured diagnostics with a location and a hint.

Every check in the compiler appends ``Diagnostic`` values instead of raising on
the first problem, so one run reports everything that is wrong. A
``ModelplaneError`` carries them to the CLI, which prints them without a
traceback (exit 1). Anything else that escapes is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file; ``line`` and ``column`` count from 1."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: what (``code``, ``message``), where, and how to fix it."""

    code: str
    message: str
    location: Location | None = None
    hint: str | None = None
    snippet: str | None = None
    """The source line at ``location``, shown under the message with a caret."""
    width: int = 1
    """How many characters the caret underlines."""
    related: tuple[tuple[str, Location], ...] = ()
    severity: str = "error"
    """``error`` stops the command; ``warning`` is shown and the command goes on."""
    environments: tuple[str, ...] = ()
    """The environments it was found in, when several were checked (``validate`` checks them all)."""

    @classmethod
    def at(
        cls,
        place: tuple[Location, str | None, int],
        code: str,
        message: str,
        hint: str | None = None,
        related: tuple[tuple[str, Location], ...] = (),
    ) -> Diagnostic:
        """An error at ``place`` as ``SourceMap.location`` gives it: where, the source line, the caret's width."""
        loc, snippet, width = place
        return cls(code, message, loc, hint, snippet, width, related)

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a diagnostic: ``--format json`` output, the compile caches, and (its
        fields that the plan format declares) a plan's ``diagnostics``. ``from_json`` reads it back whole."""
        loc = self.location
        return {
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "related": [{"message": m, "file": r.file, "line": r.line, "column": r.column} for m, r in self.related],
            "snippet": self.snippet,
            "width": self.width,
            **({"environments": list(self.environments)} if self.environments else {}),
        }

    @classmethod
    def from_json(cls, x: dict[str, Any]) -> Diagnostic:
        """The diagnostic ``to_json`` wrote."""
        loc = Location(x["file"], x["line"], x["column"]) if x.get("file") is not None else None
        related = tuple((r["message"], Location(r["file"], r["line"], r["column"])) for r in x.get("related", ()))
        return cls(
            x["code"],
            x["message"],
            loc,
            x.get("hint"),
            x.get("snippet"),
            x.get("width", 1),
            related,
            x.get("severity", "error"),
            tuple(x.get("environments", ())),
        )

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location or Location("")
        return (loc.file, loc.line, loc.column, self.code)


class ModelplaneError(Exception):
    """An error the user can fix; printed as diagnostics, never as a traceback."""

    exit_code = 1

    def __init__(self, diagnostics: Diagnostic | Sequence[Diagnostic] | str, hint: str | None = None) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(code="error", message=diagnostics, hint=hint)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__(self.diagnostics[0].message if self.diagnostics else "error")


class SpecError(ModelplaneError):
    """The specs or the project file are invalid."""


class GraphError(ModelplaneError):
    """The specs are valid one by one but do not form a sound graph."""


class PlanError(ModelplaneError):
    """A plan cannot be made or used (stale, unreadable, wrong version)."""


class SelectorError(ModelplaneError):
    """A node selector (``--select``) that does not parse or names nothing that exists."""


class ActionFailed(ModelplaneError):
    """An action failed in a way retrying will not fix (bad command, failing evaluation, missing provisioner).

    ``hint`` says how to fix it; ``details`` are facts for tools (a log's path, the provider). Both travel
    with the Temporal failure (``ApplicationError`` details: ``{..., "hint": ...}``) to whoever follows
    the apply, and the worker does not retry it.
    """

    retryable = False

    def __init__(self, message: str, details: dict[str, Any] | None = None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.details = {**(details or {}), **({"hint": hint} if hint else {})}


@dataclass
class Collector:
    """Accumulates diagnostics across files so they can be reported together."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    def __bool__(self) -> bool:
        return bool(self.items)


def format_path(path: Iterable[str | int]) -> str:
    """``("spec", "steps", 0, "pause")`` -> ``spec.steps[0].pause``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def did_you_mean(
    word: str, candidates: Iterable[str], what: str = "", *, shown: int | None = 8, see: str = ""
) -> str | None:
    """A "did you mean" hint naming the closest candidate; else the candidates (``what``: the
    first ``shown`` of them, None for all, then ``see``: how to list the rest); else None."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    if close:
        return f"did you mean `{close[0]}`?"
    if what and pool:
        listed = pool if shown is None else pool[:shown]
        more = ""
        if len(listed) < len(pool):
            more = f" and {len(pool) - len(listed)} more" + (f" ({see})" if see else "")
        return f"{what}: {', '.join(f'`{c}`' for c in listed)}{more}"
    return None


class ServerLost(Exception):
    """The Temporal server stopped answering while a command followed an apply: shown as its one line (what
    happened and the command that re-attaches), exit 1. Not a ``ModelplaneError``: nothing in the specs is wrong."""


class NoWorker(ServerLost):
    """The server answers, but no worker polls the apply's task queue (the apply waits for one)."""
