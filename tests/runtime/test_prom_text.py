"""Reading /metrics through Prometheus' parser: exact families, vLLM's per-reason split not counted twice."""

from __future__ import annotations

import pytest

from modelplane.runtime.local.engine_metrics import EngineMetrics
from modelplane.runtime.local.prom_text import MetricsUnreadable, sample_sum, samples

VLLM_PAGE = """# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 12.0
# HELP vllm:num_requests_waiting_by_reason Number of requests waiting, by reason.
# TYPE vllm:num_requests_waiting_by_reason gauge
vllm:num_requests_waiting_by_reason{engine="0",model_name="m",reason="capacity"} 9.0
vllm:num_requests_waiting_by_reason{engine="0",model_name="m",reason="deferred"} 3.0
"""


def test_queue_depth_is_the_family_not_every_line_with_its_prefix() -> None:
    assert sample_sum(VLLM_PAGE, "vllm:num_requests_waiting") == 12.0  # a prefix match read 24
    assert samples(VLLM_PAGE, "vllm:kv_cache_usage_perc") is None  # absent, not zero


def test_a_label_repeated_in_one_sample_is_unreadable() -> None:
    with pytest.raises(MetricsUnreadable):
        sample_sum('# TYPE x gauge\nx{engine="0",engine="sim"} 1\n', "x")


def test_the_simulators_page_parses_and_counts_waiting_once() -> None:
    m = EngineMetrics("m", [0.1, 1.0], 2048, waiting=5)
    page = m.render({"simulator": "modelplane-vllm-simulator"})
    assert sample_sum(page, "vllm:num_requests_waiting") == 5
    assert sample_sum(page, "vllm:request_success", "vllm:request_success_total") == 0
