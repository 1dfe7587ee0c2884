"""Canary analysis decides right: sample size from the error budget, a binomial error gate, the share gate,
the capacity gate's replica count and the no-traffic policy's default per stack."""

from __future__ import annotations

from typing import Any

import pytest

from modelplane.runtime.analysis import SAMPLES, judge
from modelplane.runtime.typed import min_requests, rollout_policy
from modelplane.specs.sample_size import (
    BAD_RATIO,
    FALSE_FAIL,
    POWER,
    _tail,
    critical_errors,
    default_min_requests,
    window_requests,
)
from tests.endpoint_factory import endpoint_spec as _spec


@pytest.mark.parametrize(("availability", "n"), [(0.99, 29), (0.999, 299), (0.9999, 2994)])
def test_default_sample_size_keeps_a_good_canary_and_catches_a_bad_one(availability: float, n: int) -> None:
    assert default_min_requests(availability) == n
    budget = 1 - availability
    c = critical_errors(n, budget)
    assert _tail(n, budget, c) <= FALSE_FAIL  # a canary at the budget fails under 5% of windows
    assert _tail(n, BAD_RATIO * budget, c) >= POWER  # one at 10x the budget fails 80% of them or more
    # and no smaller window does both
    for m in range(max(1, n - 40), n):
        cm = critical_errors(m, budget)
        assert _tail(m, BAD_RATIO * budget, cm) < POWER


def test_one_sample_size_rule_for_the_compiler_and_the_rollout() -> None:
    """``window_requests`` is the rule both the compiler's feasibility check and the rollout's analysis read:
    a declared ``min_requests`` wins, else the error budget's size."""
    import inspect

    import modelplane.compiler.graph.checks as checks

    assert window_requests(None, 0.999) == 299 and window_requests(50, 0.999) == 50
    assert min_requests(_spec()) == 299
    assert min_requests(_spec(rollout={"analysis": {"min_requests": 40}})) == 40
    source = inspect.getsource(checks)
    assert "window_requests(" in source and "default_min_requests" not in source


def test_error_gate_is_a_test_not_a_ratio() -> None:
    spec = _spec()  # 299 requests at 0.999: one error is noise, two fail the canary
    ok = {"requests": 299, "errors": 1, "p99_ms": 100.0}
    assert judge(spec, ok, None).result == "pass"
    bad = judge(spec, {**ok, "errors": 2}, None)
    assert bad.result == "fail" and bad.gate == "errors" and "2 errors in 299 requests" in bad.reason


def test_synthetic_requests_count_for_the_sample_and_are_said() -> None:
    v = judge(_spec(), {"requests": 320, "real": 20, "synthetic": 300, "errors": 0, "p99_ms": 90.0}, None)
    assert v.result == "pass" and "320 requests (300 synthetic)" in v.reason
    short = judge(_spec(), {"requests": 12, "real": 12, "synthetic": 0}, None)
    assert short.result == "inconclusive" and short.gate == "sample" and "need 299" in short.reason


def test_share_gate_catches_a_starved_canary_and_spares_a_fair_split() -> None:
    spec = _spec(rollout={"analysis": {"min_requests": 20}})
    stable = {"requests": 700, "real": 700, "p99_ms": 100.0}
    starved = judge(spec, {"requests": 120, "real": 120, "p99_ms": 100.0}, stable, weight=50)
    assert starved.result == "fail" and starved.gate == "share"
    assert "served 14.6% of 820 real requests at weight 50%" in starved.reason
    # a fair 50/50 split off by binomial noise passes
    fair = judge(spec, {"requests": 390, "real": 390, "p99_ms": 100.0}, {**stable, "real": 430}, weight=50)
    assert fair.result == "pass"
    # synthetic (pinned) requests are not part of the share
    pinned = {"requests": 400, "real": 10, "synthetic": 390, "p99_ms": 100.0}
    assert judge(spec, pinned, {"requests": 30, "real": 10, "p99_ms": 100.0}, weight=50).result == "pass"


def test_capacity_gate_replicas_and_idle_policy_defaults() -> None:
    doc = {
        "apiVersion": "modelplane/v1",
        "kind": "Endpoint",
        "metadata": {"name": "e", "owner": "o"},
        "spec": {**_spec().model_dump(mode="json", exclude_none=True), "capacity": {"target_qps_per_replica": 2}},
    }

    def stack(provider: str) -> dict[str, Any]:
        return {"apiVersion": "modelplane/v1", "kind": "Stack", "metadata": {"name": "s", "owner": "o"},
                "spec": {"provider": provider, "namespace": "ns"}}  # fmt: skip

    local = rollout_policy(doc, {"stack/s": stack("local")})
    assert local.when_idle == "synthesize" and local.need == 299
    assert [local.replicas_for(w) for w in (5, 25, 50, 100)] == [1, 2, 3, 5]
    assert "needs 5 canary replica(s), but max_replicas is 4" in local.capacity_reason(100, 5)
    assert rollout_policy(doc, {"stack/s": stack("kubernetes")}).when_idle == "hold"
    doc["spec"]["rollout"] = {"analysis": {"when_idle": "fail"}}
    assert rollout_policy(doc, {"stack/s": stack("local")}).when_idle == "fail"
    assert min_requests(_spec(rollout={"analysis": {"min_requests": 7}})) == 7


def test_a_canary_failing_everything_fails_before_it_has_a_full_sample() -> None:
    v = judge(_spec(), {"requests": 40, "errors": 40, "p99_ms": 5.0}, None)  # need 299, but 40 of 40 failed
    assert v.result == "fail" and v.gate == "errors"
    assert judge(_spec(), {"requests": 40, "errors": 0, "p99_ms": 5.0}, None).result == "inconclusive"


def test_ratio_gate_compares_medians_when_a_window_is_too_small_for_a_p99() -> None:
    spec = _spec(rollout={"analysis": {"min_requests": 20}})
    # 22 requests each: the canary's slowest one (its "p99") hit a hiccup, its median is stable's
    noisy = {"requests": 22, "synthetic": 22, "p50_ms": 101.0, "p99_ms": 171.0}
    stable = {"requests": 22, "p50_ms": 100.0, "p99_ms": 144.0}
    assert judge(spec, noisy, stable).result == "pass"
    # a revision 3x slower moves the median too, and fails on it, saying why
    slow = judge(spec, {**noisy, "p50_ms": 300.0, "p99_ms": 420.0}, stable)
    assert slow.result == "fail" and slow.gate == "ratio"
    assert slow.reason.startswith("p50 300 ms is 3.0x stable's 100 ms (limit 1.1x; medians, as under 100 requests")
    # with 100 or more on both sides the p99s are compared, as before
    big = {"requests": 300, "p50_ms": 101.0, "p99_ms": 171.0}
    tail = judge(spec, big, {**stable, "requests": 300})
    assert tail.result == "fail" and tail.reason.startswith("p99 171 ms is 1.2x stable's 144 ms (limit 1.1x)")


def test_a_recorded_verdict_is_the_dict_the_rollout_wrote() -> None:
    """``Verdict.at`` is the step's record (``StepVerdict``): the keys and order the rollout wrote as a dict
    (histories, the state store and `status` read them), with or without the per-request latencies."""
    canary = {"requests": 400, "errors": 0, "p99_ms": 80.0, SAMPLES: [70.0, 80.0]}
    v = judge(_spec(), canary, {"requests": 3000, "errors": 0, "p99_ms": 82.0, SAMPLES: [80.0]}, 10)
    assert v.at(2, 10) == {"step": 2, "weight": 10, **v.model_dump()}
    assert list(v.at(2, 10)) == ["step", "weight", *v.model_dump()]
    assert v.at(2, 10, summary=True) == {"step": 2, "weight": 10, **v.figures()}
    assert SAMPLES not in (v.at(2, 10, summary=True)["canary"] or {})
