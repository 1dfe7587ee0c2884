"""``modelplane bench``'s search run against one simulated replica instead of a server.

This checks the planner against the fleet simulation where no GPU is: a latency model stands in for an
engine, the same search and verdicts as ``bench`` (compiler.capacity.search) measure one replica of it
and write the same profile, and the planner sizes from that profile exactly as from a measured one.
Whether the planner's count then matches the smallest fleet the simulation finds on the *true* model
(not the curve calibrated from the probes) is what benchmarks/bench_capacity_model.py and the tests
check.
"""

from __future__ import annotations

from modelplane.compiler.capacity.profile import Measured, Profile, ProfileKey
from modelplane.compiler.capacity.search import Samples, Search, capacity_of, verdict
from modelplane.compiler.capacity.simulation import Fleet, LatencyModel, simulate

H100_SHAPED = LatencyModel(ttft_s=0.040, itl0_s=0.006, slope_s=0.000012, max_num_seqs=1024, output_tokens=50)
"""An illustrative replica of a small FP8 model on one H100: 40 ms to the first token, 6 ms a token alone and
12 us more per request running beside it, at most 1,024 running (grammar-prod's max_num_seqs): ~1,000 req/s at
p99 1 s with 50 output tokens, the order of the reference's measured 750-1,200 QPS per H100 pod. Not a
measurement: it stands in for one where no GPU is."""


def probe(model: LatencyModel, rate: float, seconds: float, seed: int = 11) -> Samples:
    """One probe of one simulated replica: Poisson arrivals at ``rate`` for ``seconds`` after a 1 s warm-up."""
    result = simulate(Fleet(model, rate, 1), "p2c", seconds, seed)
    ttft = model.ttft_s * 1000
    return Samples(rate, seconds, result.all_ms, ttft_ms=[ttft] * len(result.all_ms))


def profile(
    model: LatencyModel,
    key: ProfileKey,
    p99_slo_ms: float,
    availability: float,
    start_rate: float,
    at: str,
    seconds: float = 20.0,
    what: str = "modelplane's fleet simulation of one replica",
) -> Profile:
    """The profile ``bench`` would write for a replica that behaves as ``model`` (``at``: when, ISO 8601)."""
    search = Search(start=start_rate)
    while (rate := search.next_rate()) is not None:
        samples = probe(model, rate, seconds, seed=11 + len(search.probes))  # a seed per probe, as bench does
        search.probes.append(verdict(samples, p99_slo_ms, 1 - availability))
    capacity = capacity_of(search.probes, p99_slo_ms)
    if capacity is None:
        raise ValueError(f"no rate met p99 {p99_slo_ms:g} ms: the model is slower than the SLO without load")
    return Profile(
        key=key,
        capacity=capacity,
        probes=search.probes,
        measured=Measured(at=at, where=what, engine="simulator", tool="simbench"),
    )
