"""Which Prometheus series exist, so a rendered query can be checked against them.

- vLLM: the series each release exports, package data written by ``tools/vllm_metrics.py`` from the release's
  wheel (``stacks/engine_metrics/vllm-<version>.json``), never edited by hand;
- Envoy: the cluster statistics the canary analysis reads, as Envoy's ``/stats/prometheus`` names them (prefix
  ``envoy_``, the cluster name moved to the ``envoy_cluster_name`` label; ``upstream_rq_5xx`` becomes
  ``upstream_rq_xx`` with ``envoy_response_code_class``; the ``upstream_rq_time`` histogram gets
  ``_bucket/_sum/_count``). From Envoy's cluster statistics reference
  (https://www.envoyproxy.io/docs/envoy/v1.31.2/configuration/upstream/cluster_manager/cluster_stats).

``promql_names`` lists the metric names a PromQL expression (or a prometheus-adapter query template) reads.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

from modelplane.stacks.vllm_versions import PINNED_VERSION

ENVOY_SERIES = frozenset(
    {
        "envoy_cluster_upstream_rq_total",
        "envoy_cluster_upstream_rq_xx",
        "envoy_cluster_upstream_rq_completed",
        "envoy_cluster_upstream_rq_pending_active",
        "envoy_cluster_upstream_rq_active",
        "envoy_cluster_upstream_rq_retry",
        "envoy_cluster_upstream_rq_timeout",
        "envoy_cluster_upstream_rq_per_try_timeout",
        "envoy_cluster_upstream_cx_connect_fail",
        "envoy_cluster_membership_healthy",
        "envoy_cluster_membership_total",
        "envoy_cluster_outlier_detection_ejections_active",
        *(f"envoy_cluster_upstream_rq_time{s}" for s in ("_bucket", "_sum", "_count")),
    }
)


@functools.cache
def vllm_series(version: str = PINNED_VERSION) -> frozenset[str]:
    """Every series name vLLM ``version`` exports (``vllm:num_requests_running``, ``vllm:request_success_total``)."""
    entry = resources.files("modelplane.stacks").joinpath("engine_metrics", f"vllm-{version}.json")
    data = json.loads(entry.read_text(encoding="utf-8"))
    return frozenset(data["samples"])


# PromQL words that are not metric names where they stand bare (aggregation modifiers, set operators)
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                       "offset", "inf", "nan"})  # fmt: skip
_STRIP = (
    re.compile(r"<<[^>]*>>"),  # prometheus-adapter template fields (<<.LabelMatchers>>, <<.GroupBy>>)
    re.compile(r'"(?:[^"\\]|\\.)*"'),  # strings (label values)
    re.compile(r"\{[^}]*\}"),  # label matchers
    re.compile(r"\[[^\]]*\]"),  # range durations
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"),  # label lists
)
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def promql_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords, labels and numbers left out)."""
    for pattern in _STRIP:
        expr = pattern.sub(" ", expr)
    return {m.group(1) for m in _IDENT.finditer(expr) if not m.group(2) and m.group(1).lower() not in _KEYWORDS}
