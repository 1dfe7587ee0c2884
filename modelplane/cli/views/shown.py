"""What a view gives a command to write: its two streams and its exit code, kept together (a plan's are
memoized as they are)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
F = TypeVar("F")


@dataclass
class Shown:
    """A command's output, rendered: what goes to stdout and stderr, and its exit code."""

    stdout: str
    stderr: str = ""
    code: int = 0

    def write(self) -> None:
        sys.stdout.write(self.stdout)
        sys.stderr.write(self.stderr)


def pick(renderers: Mapping[F, Callable[[T], str]], fmt: F, value: T) -> Shown:
    """``value`` rendered by the renderer of ``fmt``: one table per view instead of a branch per format."""
    return Shown(renderers[fmt](value))


def as_json(doc: Any) -> str:
    """One JSON document on stdout, as every ``--format json`` prints it."""
    return json.dumps(doc, indent=2, default=str) + "\n"
