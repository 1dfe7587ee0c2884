"""What every command shares: the output formats and the common options (declarations only)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


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


_FORMAT = typer.Option("--format", "-f", help="Output format.")

FormatOpt = Annotated[Format, _FORMAT]
GraphFormatOpt = Annotated[GraphFormat, _FORMAT]
PlanFormatOpt = Annotated[PlanFormat, _FORMAT]


ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-C", help="Project directory (default: nearest with a modelplane.yaml)."),
]


EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment (default: the project's default).")]


NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Ignore the content cache under .modelplane/.")]


SelectOpt = Annotated[
    str | None, typer.Option("--select", "-s", help="dbt-style selector, e.g. `+model/x+`, `kind:endpoint`.")
]


ExcludeOpt = Annotated[
    str | None,
    typer.Option("--exclude", "-x", help="dbt-style selector of nodes to leave out, e.g. `kind:service`."),
]


BaseOpt = Annotated[
    str | None, typer.Option("--base", help="Compare with the specs at this git ref instead of the applied state.")
]


def color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()
