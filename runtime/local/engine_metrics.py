"""The simulator's ``/metrics`` page: vLLM 0.33's metric families, names, labels and buckets, in text exposition.

What vLLM's ``prometheus_client`` registry writes (``vllm/v1/metrics/loggers.py``): every
sample labelled ``engine`` and ``model_name``; counters with the ``_total`` suffix on
their ``HELP``/``TYPE`` lines and samples; histograms cumulative with a ``+Inf``
bucket, ``_sum`` and ``_count``. The page parses with Prometheus' own parser (the
conformance test checks it with ``prometheus_client``'s): no label twice in one
sample, label values escaped, one ``HELP`` and ``TYPE`` per family.

Request-latency histograms (e2e, queue, prefill, decode, inference) take the
engine's ``--histogram-buckets`` (vLLM's ``--custom-histogram-buckets
request_latency``); the others keep vLLM's own buckets.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
TTFT_BUCKETS += [20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
ITL_BUCKETS = [
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
]
FINISHED_REASONS = ("stop", "length", "abort")


def token_buckets(max_model_len: int) -> list[float]:
    """vLLM's 1-2-5 series up to the context length (``build_1_2_5_buckets``), for token-count histograms."""
    out: list[float] = []
    exponent = 0
    while True:
        for m in (1, 2, 5):
            v = m * 10**exponent
            if v > max_model_len:
                return out
            out.append(float(v))
        exponent += 1


def escape(value: str) -> str:
    """A label value as the text format needs it (backslash, quote and newline escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class Histogram:
    buckets: list[float]
    counts: list[int] = field(default_factory=list)
    """Observations per bucket (not cumulative; ``render`` accumulates); the last is over the top bucket."""
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, v: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.buckets, v)] += times
        self.total += v * times
        self.n += times

    def render(self, name: str, labels: str) -> list[str]:
        out, acc = [], 0
        for b, c in zip(self.buckets, self.counts, strict=False):
            acc += c
            out.append(f'{name}_bucket{{{labels},le="{b}"}} {acc}')
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {self.n}')
        out += [f"{name}_sum{{{labels}}} {self.total}", f"{name}_count{{{labels}}} {self.n}"]
        return out


@dataclass
class EngineMetrics:
    """What the engine has done, as vLLM counts it; ``render`` is the page."""

    model: str
    request_buckets: list[float]
    max_model_len: int
    running: int = 0
    waiting: int = 0
    kv_usage: float = 0.0
    preemptions: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    success: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINISHED_REASONS, 0))
    hist: dict[str, Histogram] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tokens = token_buckets(self.max_model_len)
        self.hist = {
            "time_to_first_token_seconds": Histogram(TTFT_BUCKETS),
            "inter_token_latency_seconds": Histogram(ITL_BUCKETS),
            "request_time_per_output_token_seconds": Histogram(ITL_BUCKETS),
            "e2e_request_latency_seconds": Histogram(self.request_buckets),
            "request_queue_time_seconds": Histogram(self.request_buckets),
            "request_inference_time_seconds": Histogram(self.request_buckets),
            "request_prefill_time_seconds": Histogram(self.request_buckets),
            "request_decode_time_seconds": Histogram(self.request_buckets),
            "request_prompt_tokens": Histogram(tokens),
            "request_generation_tokens": Histogram(tokens),
        }

    def labels(self) -> str:
        return f'engine="0",model_name="{escape(self.model)}"'

    def render(self, info: dict[str, str]) -> str:
        """The page; ``info`` labels the simulator's own info gauge (which says this is not vLLM)."""
        lb = self.labels()
        out: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[str]) -> None:
            out.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples])

        family("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
               [f"vllm:num_requests_running{{{lb}}} {self.running}"])  # fmt: skip
        family("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
               [f"vllm:num_requests_waiting{{{lb}}} {self.waiting}"])  # fmt: skip
        # the same waiting requests split by why they wait: a reader summing both families counts them twice
        family("vllm:num_requests_waiting_by_reason", "gauge", "Number of requests waiting, by reason.",
               [f'vllm:num_requests_waiting_by_reason{{{lb},reason="capacity"}} {self.waiting}',
                f'vllm:num_requests_waiting_by_reason{{{lb},reason="deferred"}} 0'])  # fmt: skip
        family("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
               [f"vllm:kv_cache_usage_perc{{{lb}}} {self.kv_usage:.6f}"])  # fmt: skip
        counters = [
            ("vllm:num_preemptions_total", "Cumulative number of preemption from the engine.", self.preemptions),
            ("vllm:prompt_tokens_total", "Number of prefill tokens processed.", self.prompt_tokens),
            ("vllm:generation_tokens_total", "Number of generation tokens processed.", self.generation_tokens),
        ]
        for name, help_, value in counters:
            family(name, "counter", help_, [f"{name}{{{lb}}} {value}"])
        family("vllm:request_success_total", "counter", "Count of successfully processed requests.",
               [f'vllm:request_success_total{{{lb},finished_reason="{r}"}} {n}' for r, n in self.success.items()])  # fmt: skip
        for short, h in self.hist.items():
            name = f"vllm:{short}"
            family(name, "histogram", _HELP[short], h.render(name, lb))
        extra = ",".join(f'{k}="{escape(v)}"' for k, v in info.items())
        family("modelplane_simulator_info", "gauge", "This engine is modelplane's vLLM simulator, not vLLM.",
               [f"modelplane_simulator_info{{{lb},{extra}}} 1"])  # fmt: skip
        return "\n".join(out) + "\n"


_HELP = {
    "time_to_first_token_seconds": "Histogram of time to first token in seconds.",
    "inter_token_latency_seconds": "Histogram of inter-token latency in seconds.",
    "request_time_per_output_token_seconds": "Histogram of time_per_output_token_seconds per request.",
    "e2e_request_latency_seconds": "Histogram of e2e request latency in seconds.",
    "request_queue_time_seconds": "Histogram of time spent in WAITING phase for request.",
    "request_inference_time_seconds": "Histogram of time spent in RUNNING phase for request.",
    "request_prefill_time_seconds": "Histogram of time spent in PREFILL phase for request.",
    "request_decode_time_seconds": "Histogram of time spent in DECODE phase for request.",
    "request_prompt_tokens": "Number of prefill tokens processed.",
    "request_generation_tokens": "Number of generation tokens processed.",
}
