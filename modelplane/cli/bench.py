"""``modelplane bench``: measure a replica's capacity at the SLO into a profile, or import a benchmark's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli.exit import guard
from modelplane.cli.options import EnvOpt, ProjectOpt
from modelplane.cli.project import workspace
from modelplane.cli.views.words import plural


def _progress(n: int, p: Any) -> None:
    e2e = p.e2e_ms
    mark = "meets" if p.meets_slo else "misses"
    ttft = f", ttft p99 {p.ttft_ms.p99:.0f} ms" if p.ttft_ms.p99 is not None else ""
    print(
        f"  probe {n:>2}: offered {p.offered_qps:g} req/s -> {p.throughput_qps:.1f} req/s, "
        f"p50 {e2e.p50 or 0:.0f} ms, p99 {e2e.p99 or 0:.0f} ms{ttft}, {plural(p.errors, 'error')}: {mark} the SLO",
        file=sys.stderr,
        flush=True,
    )


def bench(
    endpoint: Annotated[str, typer.Argument(help="The endpoint to measure (or `import` to convert a benchmark file).")],
    file: Annotated[
        Path | None, typer.Argument(help="With `import`: a `vllm bench serve` result or a GuideLLM report (JSON).")
    ] = None,
    of: Annotated[str | None, typer.Option("--endpoint", help="With `import`: the endpoint it measured.")] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Measure the vLLM server at this URL instead of the local stack's replica."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the profile (default: profiles/NAME-ENV.json).")
    ] = None,
    probe_seconds: Annotated[
        float, typer.Option("--probe-seconds", help="Measured seconds per probe (at least).")
    ] = 5.0,
    max_probes: Annotated[int, typer.Option("--max-probes", min=2, max=25, help="Probes at most.")] = 25,
    project: ProjectOpt = None,
    env: EnvOpt = None,
) -> None:
    """Measure what one replica of ENDPOINT sustains within its SLO and write a capacity profile.

    `modelplane bench ENDPOINT` probes a live replica (the local stack's, or --url) with the endpoint's token
    shape: doubling the request rate until the p99 misses the SLO, then bisecting to 5%, in at most 25 probes.
    `modelplane bench import FILE --endpoint ENDPOINT` converts a `vllm bench serve --save-result` JSON or a
    GuideLLM report. `validate` and `plan` then size the endpoint from the profile and flag it once the engine,
    its arguments, the GPU or the model change.
    """
    ws = workspace(project, env)
    if endpoint == "import":
        if file is None or of is None:
            print("error: usage: modelplane bench import FILE --endpoint ENDPOINT", file=sys.stderr)
            raise typer.Exit(2)
        profile, path = guard(lambda: ws.bench_import(file, of, out))
    else:
        print(f"measuring endpoint/{endpoint.removeprefix('endpoint/')} (up to {max_probes} probes)", file=sys.stderr)
        profile, path = guard(
            lambda: ws.bench(
                endpoint, url=url, out=out, probe_seconds=probe_seconds, max_probes=max_probes, progress=_progress
            )
        )
    c = profile.capacity
    print(
        f"{profile.measured.endpoint}: {c.qps_per_replica:g} req/s per replica within p99 {c.p99_latency_ms:g} ms "
        f"({c.low:g}-{c.high:g} at {c.confidence:.0%}), {c.in_flight_per_replica:.1f} in flight; "
        f"{plural(len(profile.probes), 'probe')} on {profile.measured.where}"
    )
    print(f"wrote {path}")
