"""The local autoscaler's arithmetic is the HPA's: desired count, stabilization windows, rate limits, bounds."""

from __future__ import annotations

from modelplane.runtime.local.autoscaler import RevisionState, desired, next_count
from modelplane.runtime.local.registry import Autoscaling


def _policy(**over: float) -> Autoscaling:
    base: dict[str, float] = {
        "min_replicas": 1, "max_replicas": 8, "metric": "concurrency", "target": 4,  # type: ignore[dict-item]
        "up_stabilization_s": 0, "up_percent": 100, "up_period_s": 15,
        "down_stabilization_s": 60, "down_percent": 50, "down_period_s": 10,
    }  # fmt: skip
    return Autoscaling.model_validate({**base, **over})


def test_desired_is_the_hpa_count() -> None:
    assert desired(12, 1, "concurrency", 4) == 3
    assert desired(12.1, 1, "concurrency", 4) == 4
    assert desired(0, 3, "concurrency", 4) == 0
    assert desired(0.9, 2, "kv_usage", 0.6) == 3  # mean 90% on 2 replicas at a 60% target


def test_scale_up_is_limited_per_period_and_bounded() -> None:
    p, st = _policy(), RevisionState()
    to, _ = next_count(p, st, 0.0, 1, 5, 0)
    assert to == 2  # 100% of 1 per 15 s period
    st.changes.append((0.0, to - 1))
    assert next_count(p, st, 5.0, 2, 5, 0)[0] == 2  # the period's budget is spent
    assert next_count(p, st, 16.0, 2, 5, 0)[0] == 4  # a new period: 100% of 2
    assert next_count(p, RevisionState(), 0.0, 4, 50, 0)[0] == 8  # never above max_replicas


def test_scale_down_waits_for_its_stabilization_window() -> None:
    p, st = _policy(), RevisionState()
    for t in range(0, 60, 5):  # load was high a minute ago, then gone
        next_count(p, st, float(t), 4, 4 if t < 30 else 1, 0)
    assert next_count(p, st, 60.0, 4, 1, 0)[0] == 4  # the high recommendation is still in the window
    to = next_count(p, st, 95.0, 4, 1, 0)[0]
    assert to == 2  # out of the window: down, at most 50% of 4 per period


def test_the_rollouts_floor_and_min_replicas_hold() -> None:
    p = _policy()
    assert next_count(p, RevisionState(), 0.0, 3, 0, 3)[0] == 3  # the capacity gate asked for 3
    to, why = next_count(p, RevisionState(), 0.0, 0, 0, 0)
    assert to == 1 and "below the minimum" in why
