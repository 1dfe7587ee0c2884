"""A benchmark result (``vllm bench serve``, GuideLLM) as a profile of an endpoint, judged against its SLO."""

from __future__ import annotations

import datetime
from pathlib import Path

import orjson

from modelplane import __version__
from modelplane.compiler.capacity.importers import ImportError_, detect, guidellm_probes, vllm_probe
from modelplane.compiler.capacity.profile import Measured, Profile, key_of
from modelplane.compiler.capacity.search import KEEP_UP, capacity_of
from modelplane.errors import ModelplaneError
from modelplane.specs.models import Model
from modelplane.specs.serving import Endpoint


def profile_from_benchmark(file: Path, endpoint: Endpoint, model: Model, environment: str) -> Profile:
    """The profile ``file`` describes, keyed as ``endpoint`` renders now (the benchmark does not record it)."""
    try:
        doc = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ModelplaneError(f"cannot read {file}: {exc}", hint="pass the JSON file the benchmark wrote") from None
    slo = endpoint.spec.slo
    budget = 1 - slo.availability

    def judge(
        e2e_p99: float | None, ttft_p99: float | None, errors: int, total: int, tput: float, rate: float | None
    ) -> bool:
        if e2e_p99 is None or e2e_p99 > slo.p99_latency_ms:
            return False
        if slo.ttft_p99_ms is not None and ttft_p99 is not None and ttft_p99 > slo.ttft_p99_ms:
            return False
        if total and errors / total > budget:
            return False
        return rate is None or tput >= KEEP_UP * rate

    try:
        kind = detect(doc)
        probes = [vllm_probe(doc, judge)] if kind == "vllm" else guidellm_probes(doc, judge)
    except ImportError_ as exc:
        raise ModelplaneError(f"{file}: {exc}") from None
    capacity = capacity_of(probes, slo.p99_latency_ms, slo.ttft_p99_ms)
    if capacity is None:
        raise ModelplaneError(
            f"{file}: no load level in it met endpoint/{endpoint.metadata.name}'s SLO (p99 {slo.p99_latency_ms:g} ms)",
            hint="benchmark at lower request rates, or check the SLO",
        )
    mtime = datetime.datetime.fromtimestamp(file.stat().st_mtime, datetime.UTC).replace(microsecond=0)
    return Profile(
        key=key_of(endpoint.spec, model.metadata.name, model.spec),
        capacity=capacity,
        probes=probes,
        measured=Measured(
            at=mtime.isoformat(),
            where=f"as recorded in {file.name}",
            engine="vllm",
            tool=("vllm bench serve" if kind == "vllm" else "guidellm") + f" (imported by modelplane {__version__})",
            endpoint=f"endpoint/{endpoint.metadata.name}",
            environment=environment,
        ),
    )
