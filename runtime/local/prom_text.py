"""Reading a replica's ``/metrics`` page: Prometheus' own text parser, never a prefix match on lines.

A prefix match on ``vllm:num_requests_waiting`` also matches vLLM's
``vllm:num_requests_waiting_by_reason{reason=...}`` series (the same requests
split by why they wait) and counts the queue twice; it also misreads comments,
escaped label values and exponent notation. ``prometheus_client``'s parser
groups samples into families by their ``# TYPE`` lines, so a family is read by
its exact name and its samples are exactly its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


class MetricsUnreadable(ValueError):
    """The page is not Prometheus text exposition (what Prometheus would mark the target down for)."""


def families(text: str) -> dict[str, Metric]:
    """Every family on the page by name (a counter's name without ``_total``, as the parser gives it)."""
    try:
        return {f.name: f for f in text_string_to_metric_families(text)}
    except ValueError as exc:  # the parser's only failure for a malformed line
        raise MetricsUnreadable(f"not Prometheus text exposition: {exc}") from None


def samples(
    text: str, family: str, sample: str | None = None, where: Mapping[str, str] | None = None
) -> list[float] | None:
    """The values of ``family``'s samples named ``sample`` (default: the family's name) whose labels include
    ``where`` (one per engine, on a data-parallel replica); None when the page has no such family."""
    found = families(text).get(family)
    if found is None:
        return None
    name = sample or family
    want = dict(where or {})
    return [s.value for s in found.samples if s.name == name and all(s.labels.get(k) == v for k, v in want.items())]


def sample_sum(
    text: str, family: str, sample: str | None = None, where: Mapping[str, str] | None = None
) -> float | None:
    """The sum of ``samples``; None when the page has no such family (distinct from a zero reading)."""
    values = samples(text, family, sample, where)
    return None if values is None else sum(values)
