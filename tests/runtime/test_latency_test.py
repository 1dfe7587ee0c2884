"""The canary's latency gate is a test noise does not flip: its false-failure rate and its power, measured on
synthetic samples (a busy machine: latencies that drift over the window, slowing both revisions alike), and
the failure_limit / progress_deadline policy the rollout workflow applies to its verdicts."""

from __future__ import annotations

import random

import pytest

from modelplane.runtime.analysis import judge
from modelplane.runtime.latency_test import DECISIVE_P, rank_test
from modelplane.runtime.typed import RolloutPolicy, rollout_policy
from tests.endpoint_factory import endpoint_spec as _spec

TRIALS = 100


def _window(rng: random.Random, n: int, slower: float) -> tuple[list[float], list[float]]:
    """One window of interleaved requests on a busy machine: a base latency with heavy-tailed noise, times a load
    factor that drifts over the window (a CPU hog coming and going) and hits both revisions alike."""
    canary: list[float] = []
    stable: list[float] = []
    load = 1.0
    for _ in range(2 * n):
        load = min(4.0, max(1.0, load * rng.lognormvariate(0, 0.05)))
        spike = rng.expovariate(1 / 40) if rng.random() < 0.05 else 0.0  # a scheduler hiccup: 5% of requests
        base = 120 * rng.lognormvariate(0, 0.1) * load + spike
        if rng.random() < 0.5:
            canary.append(base * slower)
        else:
            stable.append(base)
    return canary, stable


@pytest.mark.parametrize("n", [20, 300])
def test_identical_canaries_fail_under_one_percent_of_windows(n: int) -> None:
    rng = random.Random(7)
    fails = sum(rank_test(*_window(rng, n, 1.0), ratio=1.1, floor=20).p < 0.01 for _ in range(TRIALS))
    assert fails <= TRIALS // 100  # alpha 0.01 against a null a margin away: far under 1% in practice


@pytest.mark.parametrize("n", [20, 300])
def test_a_canary_one_and_a_half_times_slower_fails_every_window(n: int) -> None:
    rng = random.Random(11)
    results = [rank_test(*_window(rng, n, 1.5), ratio=1.1, floor=20) for _ in range(TRIALS)]
    # 20 requests a side under this much noise still catch it in 95% of windows (the re-check of a marginal
    # failure makes a rollback of it near certain); a few hundred, in every window
    assert sum(r.p < 0.01 for r in results) >= TRIALS * (0.95 if n < 100 else 1.0)
    if n >= 300:  # with a few hundred requests the failure is decisive, not a marginal one to re-check
        assert all(r.p < DECISIVE_P for r in results)


def test_within_the_margin_passes_beyond_it_fails() -> None:
    rng = random.Random(3)
    assert sum(rank_test(*_window(rng, 300, 1.05), ratio=1.1, floor=20).p < 0.01 for _ in range(50)) == 0
    # power at 300 requests a side: a canary 1.3x slower (beyond the 1.1 margin) is caught in nearly every window
    assert sum(rank_test(*_window(rng, 300, 1.3), ratio=1.1, floor=20).p < 0.01 for _ in range(50)) >= 48


def test_ties_and_equal_samples_do_not_fail() -> None:
    r = rank_test([100.0] * 30, [100.0] * 30, ratio=1.1, floor=0)
    assert r.p > 0.5 and r.slower_share == 0.0
    same = rank_test([5.0] * 10, [5.0 / 1.1] * 10, ratio=1.1, floor=0)  # every value tied after the shift
    assert same.p == 0.5


def _stats(rng: random.Random, n: int, slower: float) -> tuple[dict[str, object], dict[str, object]]:
    canary, stable = _window(rng, n, slower)

    def side(xs: list[float]) -> dict[str, object]:
        s = sorted(xs)
        return {"requests": len(xs), "real": len(xs), "errors": 0, "p50_ms": s[len(s) // 2],
                "p99_ms": s[int(0.99 * len(s))], "latencies_ms": xs}  # fmt: skip

    return side(canary), side(stable)


def test_judge_names_the_test_and_its_figures_once() -> None:
    spec = _spec(rollout={"analysis": {"min_requests": 50}})
    rng = random.Random(5)
    canary, stable = _stats(rng, 300, 1.5)
    v = judge(spec, canary, stable, weight=50, tests=True)
    assert v.result == "fail" and v.gate == "rank" and not v.marginal
    assert "Mann-Whitney" in v.reason and "p = " in v.reason and "medians" in v.reason
    assert "latencies_ms" not in v.canary and "latencies_ms" not in (v.stable or {})  # the figures, not samples
    ok = judge(spec, *_stats(rng, 300, 1.0), weight=50, tests=True)
    assert ok.result == "pass" and ok.reason.startswith("not slower than stable: rank test")
    assert "errors in" not in ok.reason  # the counts are the verdict's figures, said once by the views
    # a p99_ratio endpoint, or stats without per-request latencies (Prometheus), keep the ratio gate
    ratio = judge(_spec(rollout={"analysis": {"min_requests": 50, "latency_test": "p99_ratio"}}),
                  canary, stable, weight=50, tests=True)  # fmt: skip
    assert ratio.gate == "ratio" and ratio.marginal


def _policy(**analysis: object) -> RolloutPolicy:
    spec = _spec(rollout={"analysis": analysis, "progress_deadline": "5m"})
    doc = {
        "apiVersion": "modelplane/v1",
        "kind": "Endpoint",
        "metadata": {"name": "e", "owner": "t"},
        "spec": spec.model_dump(),
    }
    return rollout_policy(doc)


def test_failure_limit_default_rechecks_only_a_marginal_failure() -> None:
    p = _policy()
    assert p.failure_limit is None and p.progress_deadline_s == 300
    assert p.tolerates(1, marginal=True) and not p.tolerates(2, marginal=True)
    assert not p.tolerates(1, marginal=False)
    three = _policy(failure_limit=3)
    assert three.tolerates(3, marginal=False) and not three.tolerates(4, marginal=True)
    none = _policy(failure_limit=0)
    assert not none.tolerates(1, marginal=True)
