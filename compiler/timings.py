"""Where a command spends its time, stage by stage.

``MODELPLANE_TIMINGS=1 modelplane plan --base main`` prints the split to
stderr when the command ends (``=json`` prints one JSON object instead). Stage
times are exclusive: a stage that runs inside another (parsing the few files
a base overlay needs) is charged to itself and not to its caller, so the
stages add up to the time spent in them. Imports done inside a stage count
toward it. Off, a stage costs one flag check.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

ENABLED = bool(os.environ.get("MODELPLANE_TIMINGS"))
_totals: dict[str, float] = {}


class _Frame:
    __slots__ = ("since", "stage")

    def __init__(self, stage: str, since: float) -> None:
        self.stage = stage
        self.since = since  # start of the stage's current slice (it pauses while a nested stage runs)


_stack: list[_Frame] = []


def timed(stage: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Charge the time spent in the decorated function to ``stage``."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            if not ENABLED:
                return fn(*args, **kwargs)
            now = time.perf_counter()
            if _stack:
                _charge(_stack[-1].stage, now - _stack[-1].since)
            _stack.append(_Frame(stage, now))
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.perf_counter()
                done = _stack.pop()
                _charge(done.stage, end - done.since)
                if _stack:
                    _stack[-1].since = end

        return run

    return wrap


def _charge(stage: str, seconds: float) -> None:
    _totals[stage] = _totals.get(stage, 0.0) + seconds


def totals() -> dict[str, float]:
    """Seconds per stage so far, in the order the stages first ran."""
    return dict(_totals)


def report() -> str:
    """The split as printed at exit (a table, or JSON with MODELPLANE_TIMINGS=json)."""
    if os.environ.get("MODELPLANE_TIMINGS") == "json":
        import json

        return json.dumps({k: round(v, 4) for k, v in _totals.items()})
    width = max((len(k) for k in _totals), default=0)
    lines = [f"  {k:<{width}}  {v:7.3f} s" for k, v in _totals.items()]
    lines.append(f"  {'(all stages)':<{width}}  {sum(_totals.values()):7.3f} s")
    return "timings:\n" + "\n".join(lines)
