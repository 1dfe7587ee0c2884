"""The options every command shares (declarations only); the formats they take are in ``formats``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.formats import Format, GraphFormat, PlanFormat

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
