"""Pure serving rules: the vllm command line from a spec, and the canary analysis verdict."""

from __future__ import annotations

import itertools

from modelplane.compiler.compile import compile_graph
from modelplane.runtime.analysis import judge, min_requests
from modelplane.specs.base import NodeId
from modelplane.specs.serving import EndpointSpec
from modelplane.stacks.engine import vllm_args
from tests.conftest import EXAMPLES


def test_vllm_args_for_the_200k_qps_endpoint() -> None:
    graph = compile_graph(EXAMPLES / "assistant-platform", "prod", use_cache=False).graph
    ep = graph.nodes[NodeId("endpoint", "grammar-prod")]
    model = graph.nodes[NodeId("model", ep.spec["model"])]
    args = vllm_args(ep.data, model.data)
    assert args[:5] == [model.spec["artifact"], "--port", "8000", "--served-model-name", "grammar-llm"]
    pairs = dict(itertools.pairwise(args))
    assert pairs["--max-model-len"] == "512" and pairs["--max-num-seqs"] == "1024"
    assert pairs["--quantization"] == "fp8" and pairs["--api-server-count"] == "4"
    assert "--enable-server-load-tracking" in args  # the spec turns on what vLLM leaves off
    # values the spec model defaults are passed explicitly: vLLM's defaults move between releases
    # (0.33.0: gpu_memory_utilization 0.92, async scheduling automatic)
    assert pairs["--tensor-parallel-size"] == "1" and pairs["--gpu-memory-utilization"] == "0.9"
    assert "--async-scheduling" in args and "--no-enforce-eager" in args
    assert "--dtype" not in args and "--seed" not in args  # left None: vLLM decides
    assert args[args.index("--custom-histogram-buckets") + 1].startswith('{"request_latency":[0.05,')


def _spec(**over: object) -> EndpointSpec:
    """A typed endpoint spec (the analysis reads typed values, defaults filled in)."""
    base: dict[str, object] = {
        "model": "m",
        "stack": "s",
        "resources": {"accelerator": "l4"},
        "traffic": {"qps": 1},
        "slo": {"p99_latency_ms": 1000},
        "autoscaling": {"min_replicas": 1, "max_replicas": 2},
    }
    return EndpointSpec.model_validate({**base, **over})


SPEC = _spec(slo={"p99_latency_ms": 1000, "availability": 0.999}, rollout={"analysis": {"min_requests": 20}})


def test_analysis_verdicts() -> None:
    ok = {"requests": 100, "errors": 0, "error_rate": 0.0, "p99_ms": 120.0}
    stable = {"requests": 400, "errors": 0, "error_rate": 0.0, "p99_ms": 118.0}
    assert judge(SPEC, ok, stable).result == "pass"
    assert judge(SPEC, {**ok, "requests": 5}, stable).result == "inconclusive"
    errors = judge(SPEC, {**ok, "errors": 3, "error_rate": 0.03}, stable)
    assert errors.result == "fail" and errors.gate == "errors"
    assert (
        "3 errors in 100 requests (3.00%), over the 0.10% error budget (a canary within it shows 2 or more"
        in errors.reason
    )
    slow = judge(SPEC, {**ok, "p99_ms": 360.0}, stable)
    assert slow.result == "fail" and "3.1x stable's 118 ms" in slow.reason
    assert judge(SPEC, {**ok, "p99_ms": 1200.0}, None).reason == "p99 1200 ms over the SLO 1000 ms, over 100 requests"
    assert judge(SPEC, {**ok, "p99_ms": 130.0}, stable).result == "pass"  # 10% slower but within the noise floor


def test_min_requests_defaults_from_availability() -> None:
    assert min_requests(_spec(slo={"p99_latency_ms": 1, "availability": 0.999})) == 299
    assert (
        min_requests(_spec(slo={"p99_latency_ms": 1, "availability": 0.99}, rollout={"analysis": {"min_requests": 7}}))
        == 7
    )
