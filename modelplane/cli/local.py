"""The local stack: send load to an endpoint, bring an environment down."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from modelplane.cli.exit import guard
from modelplane.cli.options import EnvOpt, Format, FormatOpt, ProjectOpt
from modelplane.cli.project import settings, workspace
from modelplane.errors import ModelplaneError


def _router_of(s: Any, endpoint: str) -> tuple[str, str]:
    """(router URL, served model name) of a local endpoint, from the registry."""
    from modelplane.runtime.local.registry import read, registry_path

    name = endpoint.removeprefix("endpoint/")
    reg = read(registry_path(s.root, s.environment, name))
    if reg is None or reg.router is None:
        raise ModelplaneError(
            f"endpoint/{name} is not running on the local stack of {s.environment}",
            hint=f"bring it up with `modelplane apply --env {s.environment}`",
        )
    stable = reg.stable()
    model = reg.revisions[stable].model.split("@")[0] if stable else name
    return reg.router.url, model


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
    import asyncio

    from modelplane.runtime.local.load import run_load

    s = settings(project, env)
    url, model = guard(lambda: _router_of(s, endpoint))
    result = asyncio.run(run_load(url, model, qps, duration, input_tokens, output_tokens, arrivals=arrivals.value))
    summary = result.summary()
    if fmt == Format.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['sent']} requests in {result.wall_s:.1f}s ({summary['achieved_qps']}/s): {summary['ok']} ok, "
            f"{summary['errors']} errors, {summary['dropped']} dropped"
        )
        print(
            f"latency p50 {summary['p50_ms']:.1f} ms  p90 {summary['p90_ms']:.1f} ms  p99 {summary['p99_ms']:.1f} ms"
            f"  max {summary['max_ms']:.1f} ms"
            if summary["p50_ms"] is not None
            else "no responses"
        )
        print("by revision: " + ", ".join(f"{r} {n}" for r, n in sorted(summary["by_revision"].items())))
    raise typer.Exit(0 if result.errors == 0 else 1)


def down(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    keep_server: Annotated[
        bool, typer.Option("--keep-server", help="Leave the Temporal server and worker up.")
    ] = False,
) -> None:
    """Stop every local endpoint (routers and replicas) of the environment; the next apply brings them back."""
    ws = workspace(project, env)
    done = guard(lambda: ws.down(keep_server))
    for name, n in done.stopped.items():
        print(f"  stopped endpoint/{name} ({n} processes)")
    if done.worker_stopped:
        print("  stopped the background worker")
    if done.server_stopped:
        print("  stopped the embedded Temporal server")
    gone = done.forgotten
    environment = ws.settings.environment
    print(f"✓ {environment} is down" + (f"; {len(gone)} node(s) will be provisioned again by apply" if gone else ""))
