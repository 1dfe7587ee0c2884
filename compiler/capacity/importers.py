"""``modelplane bench import``: results of ``vllm bench serve`` and GuideLLM reports as profile probes.

vLLM's result JSON is one load level: ``request_rate`` (or ``max_concurrency``), ``duration``,
``completed``, ``failed``, ``request_throughput`` and ``{median,p90,p99}_{ttft,itl,e2el}_ms``
(the percentiles ``--metric-percentiles`` asked for; ``median`` is p50). A GuideLLM report
(v0.7: ``{"metadata": ..., "benchmarks": [...]}``) holds one benchmark per load level, each
with ``metrics`` whose ``successful`` distributions carry ``median`` and ``percentiles``
(``request_latency`` in seconds, the token latencies in ms). Neither records the GPU, the
engine version or its arguments, so the key is the endpoint's as it renders now: importing
says "this was measured on what the endpoint declares".
"""

from __future__ import annotations

from typing import Any

from modelplane.compiler.capacity.profile import Percentiles, Probe


class ImportError_(ValueError):
    """A benchmark file this importer cannot read (what was expected is in the message)."""


def detect(doc: Any) -> str:
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        return "guidellm"
    if isinstance(doc, dict) and "request_throughput" in doc and ("median_e2el_ms" in doc or "mean_e2el_ms" in doc):
        return "vllm"
    raise ImportError_(
        "not a `vllm bench serve` result (request_throughput, median_e2el_ms, ...) nor a GuideLLM report "
        "(benchmarks: [...]); run `vllm bench serve --save-result` or `guidellm benchmark --output-path x.json`"
    )


def _num(doc: dict[str, Any], key: str) -> float | None:
    v = doc.get(key)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return None


def vllm_probe(doc: dict[str, Any], judge: Any) -> Probe:
    """One probe from a ``vllm bench serve`` result; ``judge(e2e_p99, ttft_p99, errors, total, tput, offered)``
    decides whether it meets the SLO."""

    def pcts(metric: str) -> Percentiles:
        return Percentiles(
            p50=_num(doc, f"median_{metric}_ms"), p90=_num(doc, f"p90_{metric}_ms"), p99=_num(doc, f"p99_{metric}_ms")
        )

    completed = int(_num(doc, "completed") or 0)
    failed = int(_num(doc, "failed") or 0)
    duration = _num(doc, "duration") or 0.0
    tput = _num(doc, "request_throughput") or 0.0
    rate = _num(doc, "request_rate")  # "inf" (a string) when the run was closed-loop
    concurrency = _num(doc, "max_concurrency")
    e2e = pcts("e2el")
    if e2e.p99 is None:
        raise ImportError_("the result has no p99_e2el_ms: run vllm bench serve with --percentile-metrics e2el")
    mean_e2e = _num(doc, "mean_e2el_ms") or e2e.p50 or 0.0
    ttft = pcts("ttft")
    return Probe(
        offered_qps=rate,
        concurrency=int(concurrency) if concurrency else None,
        duration_s=duration,
        requests=completed + failed,
        errors=failed,
        throughput_qps=tput,
        in_flight=round(tput * mean_e2e / 1000, 3),
        ttft_ms=ttft,
        itl_ms=pcts("itl"),
        e2e_ms=e2e,
        meets_slo=judge(e2e.p99, ttft.p99, failed, completed + failed, tput, rate),
    )


def _dist(metrics: dict[str, Any], name: str, scale: float = 1.0) -> tuple[Percentiles, float | None]:
    block = metrics.get(name)
    if not isinstance(block, dict):
        return Percentiles(), None
    ok = block.get("successful", block)
    if not isinstance(ok, dict):
        return Percentiles(), None
    p = ok.get("percentiles") if isinstance(ok.get("percentiles"), dict) else {}
    assert isinstance(p, dict)

    def get(*keys: str) -> float | None:
        for k in keys:
            v = p.get(k, ok.get(k))
            if isinstance(v, int | float) and not isinstance(v, bool):
                return float(v) * scale
        return None

    mean = ok.get("mean")
    return Percentiles(p50=get("p50", "median"), p90=get("p90"), p99=get("p99")), (
        float(mean) * scale if isinstance(mean, int | float) else None
    )


def guidellm_probes(doc: dict[str, Any], judge: Any) -> list[Probe]:
    out = []
    for i, bench in enumerate(doc["benchmarks"]):
        metrics = bench.get("metrics") if isinstance(bench, dict) else None
        if not isinstance(metrics, dict):
            raise ImportError_(f"benchmarks[{i}] has no `metrics`: not a GuideLLM v0.7 report")
        e2e, mean_s = _dist(metrics, "request_latency", 1000.0)  # GuideLLM keeps request latency in seconds
        ttft, _ = _dist(metrics, "time_to_first_token_ms")
        itl, _ = _dist(metrics, "inter_token_latency_ms")
        _, rps = _dist(metrics, "requests_per_second")
        _, concurrency = _dist(metrics, "request_concurrency")
        totals = metrics.get("request_totals", {}) if isinstance(metrics.get("request_totals"), dict) else {}
        done = int(totals.get("successful", 0) or 0)
        errored = int(totals.get("errored", 0) or 0)
        duration = float(bench.get("duration", 0.0) or 0.0) if isinstance(bench, dict) else 0.0
        if e2e.p99 is None or rps is None:
            raise ImportError_(f"benchmarks[{i}] lacks request_latency percentiles or requests_per_second")
        rate = None
        strategy = bench.get("config", {}).get("strategy", {}) if isinstance(bench.get("config"), dict) else {}
        if isinstance(strategy, dict) and isinstance(strategy.get("rate"), int | float):
            rate = float(strategy["rate"])
        out.append(
            Probe(
                offered_qps=rate,
                duration_s=duration,
                requests=done + errored,
                errors=errored,
                throughput_qps=rps,
                in_flight=concurrency if concurrency is not None else round(rps * (mean_s or 0) / 1000, 3),
                ttft_ms=ttft,
                itl_ms=itl,
                e2e_ms=e2e,
                meets_slo=judge(e2e.p99, ttft.p99, errored, done + errored, rps, rate),
            )
        )
    return out
