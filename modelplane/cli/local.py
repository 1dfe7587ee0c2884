"""The local stack: send load to an endpoint, bring an environment down."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from modelplane.cli.exit import guard
from modelplane.cli.formats import Format
from modelplane.cli.options import EnvOpt, FormatOpt, ProjectOpt
from modelplane.cli.project import workspace


class Arrivals(StrEnum):
    poisson = "poisson"
    uniform = "uniform"


def load(
    endpoint: Annotated[str, typer.Argument(help="The endpoint (name or endpoint/name) on the local stack.")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    qps: Annotated[float, typer.Option("--qps", min=0.1, help="Requests per second (open loop).")] = 20.0,
    duration: Annotated[float, typer.Option("--duration", min=0.1, help="Seconds.")] = 10.0,
    input_tokens: Annotated[int, typer.Option("--input-tokens", min=1)] = 50,
    output_tokens: Annotated[int, typer.Option("--output-tokens", min=1)] = 50,
    arrivals: Annotated[
        Arrivals,
        typer.Option(
            "--arrivals", help="Poisson (as independent clients and `vllm bench serve` send) or evenly spaced."
        ),
    ] = Arrivals.poisson,
    fmt: FormatOpt = Format.text,
) -> None:
    """Send steady load to an endpoint's router and print latency percentiles."""
    from modelplane.cli.views.local import load_view

    ws = workspace(project, env)
    result = guard(
        lambda: ws.load(
            endpoint,
            qps=qps,
            duration=duration,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            arrivals=arrivals.value,
        ),
        fmt,
    )
    load_view(result.summary(), result.wall_s, fmt).write()
    raise typer.Exit(0 if result.errors == 0 else 1)


def down(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    keep_server: Annotated[
        bool, typer.Option("--keep-server", help="Leave the Temporal server and worker up.")
    ] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Stop every local endpoint (routers and replicas) of the environment; the next apply brings them back."""
    from modelplane.cli.views.local import down_view

    ws = workspace(project, env)
    done = guard(lambda: ws.down(keep_server), fmt)
    down_view(done, ws.settings.environment, fmt).write()
