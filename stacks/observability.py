"""What makes a stack's metrics exist where its autoscalers and canary analysis read them.

- Scraping, chosen by the stack setting ``scrape``: ``prometheus.io/*`` annotations on the pod templates
  (vLLM at ``VLLM_PORT/metrics``, Envoy at its ``ops`` listener's ``/stats/prometheus``), or two PodMonitors
  (prometheus-operator) selecting the same pods by their component label.
- The prometheus-adapter rules behind the HPA's Pods metrics: vLLM exports ``vllm:num_requests_running`` and
  ``vllm:num_requests_waiting``, not ``vllm_requests_in_flight``; the custom metrics API serves a name only
  when a rule derives it. The rules are rendered as a ConfigMap (``config.yaml``, prometheus-adapter's format;
  give it to the adapter as its ``rules`` or Helm ``rules.custom``), labelled
  ``modelplane.dev/config: prometheus-adapter-rules``.

Each query names only series the pinned vLLM exports (``stacks.metric_names``; a test checks it).
"""

from __future__ import annotations

from typing import Any

import yaml

from modelplane.stacks.engine import VLLM_PORT
from modelplane.stacks.router import STATS_PATH, scrape_annotations
from modelplane.stacks.settings import StackSettings

ENGINE_COMPONENT = "engine"
"""``app.kubernetes.io/component`` of the vLLM pods (the routers' is ``router``)."""
METRICS_PATH = "/metrics"
ADAPTER_RULES = "modelplane-prometheus-adapter-rules"

_PER_POD = {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}


def _sum(series: str) -> str:
    return f"sum by (<<.GroupBy>>) ({series}{{<<.LabelMatchers>>}})"


HPA_METRICS: dict[str, dict[str, Any]] = {
    # running + waiting: what the local autoscaler and the router count as in flight
    "vllm_requests_in_flight": {"series": "vllm:num_requests_running",
                                "query": f"{_sum('vllm:num_requests_running')} + {_sum('vllm:num_requests_waiting')}"},
    # the gauge only: vllm:num_requests_waiting_by_reason splits the same requests by reason (summing both counts
    # each waiting request twice)
    "vllm_num_requests_waiting": {"series": "vllm:num_requests_waiting", "query": _sum("vllm:num_requests_waiting")},
    "vllm_requests_per_second": {
        "series": "vllm:request_success_total",
        "query": "sum by (<<.GroupBy>>) (rate(vllm:request_success_total{<<.LabelMatchers>>}[1m]))",
    },
    "vllm_kv_cache_usage_perc": {"series": "vllm:kv_cache_usage_perc", "query": _sum("vllm:kv_cache_usage_perc")},
}  # fmt: skip
"""Per Pods metric an HPA reads: the vLLM series it comes from and the adapter's query."""


def adapter_rules() -> dict[str, Any]:
    return {"rules": [{"seriesQuery": f'{m["series"]}{{namespace!="",pod!=""}}', "resources": _PER_POD,
                       "name": {"matches": f"^{m['series']}$", "as": name}, "metricsQuery": m["query"]}
                      for name, m in HPA_METRICS.items()]}  # fmt: skip


def stack_objects(namespace: str, settings: StackSettings) -> list[dict[str, Any]]:
    """The stack-wide monitoring objects: adapter rules (HPA autoscaling) and PodMonitors (``scrape: podmonitor``)."""
    labels = {"app.kubernetes.io/managed-by": "modelplane"}
    out: list[dict[str, Any]] = []
    if settings.autoscaler == "hpa":
        out.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": ADAPTER_RULES, "namespace": namespace,
                                 "labels": {**labels, "modelplane.dev/config": "prometheus-adapter-rules"}},
                    "data": {"config.yaml": yaml.safe_dump(adapter_rules(), sort_keys=False)}})  # fmt: skip
    if settings.scrape == "podmonitor":
        for component, port, path in ((ENGINE_COMPONENT, "http", METRICS_PATH), ("router", "ops", STATS_PATH)):
            out.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                        "metadata": {"name": f"modelplane-{component}", "namespace": namespace,
                                     "labels": {**labels, **settings.scrape_labels}},
                        "spec": {"selector": {"matchLabels": {**labels, "app.kubernetes.io/component": component}},
                                 "podMetricsEndpoints": [{"port": port, "path": path, "interval": "15s"}]}})  # fmt: skip
    return out


def engine_pod_metadata(labels: dict[str, str], settings: StackSettings) -> dict[str, Any]:
    """A vLLM pod template's metadata: its labels plus the component label (not in the Deployment's selector,
    which is immutable) and, with ``scrape: annotations``, where Prometheus scrapes it."""
    out: dict[str, Any] = {"labels": {**labels, "app.kubernetes.io/component": ENGINE_COMPONENT}}
    if settings.scrape == "annotations":
        out["annotations"] = scrape_annotations(VLLM_PORT, METRICS_PATH)
    return out
