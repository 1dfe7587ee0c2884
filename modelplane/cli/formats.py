"""The output formats every command shares, and whether a stream gets colour: what the commands, their views and
the entry point's fast path (``modelplane.quick``) use without the CLI framework (``options`` declares the options)."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    text = "text"
    json = "json"


class GraphFormat(StrEnum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"
    json = "json"


class PlanFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class SchemaTarget(StrEnum):
    spec = "spec"
    project = "project"
    plan = "plan"


def errors_format(fmt: Format | GraphFormat | PlanFormat) -> Format:
    """How a command's errors are shown: ``--format json`` promises one JSON document on stdout, errors included."""
    return Format.json if fmt.value == "json" else Format.text


def color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()
