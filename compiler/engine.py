"""The `vllm serve` command line of an endpoint revision, rendered from its spec.

One renderer for every place a replica runs: local processes (where vLLM and a
GPU are present) and the Kubernetes Deployment of the Pulumi stacks. Flags
appear in a fixed order; defaults that vLLM already applies are left out so the
command says only what the spec chose.
"""

from __future__ import annotations

import json
from typing import Any

from modelplane.specs.serving import DEFAULT_LATENCY_BUCKETS, VllmArgs

VLLM_PORT = 8000
VLLM_DEFAULTS: dict[str, Any] = {
    # vLLM's own defaults: a flag equal to one of these is left out
    "tensor_parallel_size": 1,
    "pipeline_parallel_size": 1,
    "data_parallel_size": 1,
    "gpu_memory_utilization": 0.9,
    "async_scheduling": False,
    "enforce_eager": False,
    "enable_server_load_tracking": False,
}


def model_source(model_spec: dict[str, Any]) -> str:
    """What vLLM loads: the artifact, with hf:// meaning a Hugging Face repo id."""
    artifact = str(model_spec.get("artifact", ""))
    if artifact.startswith("hf://"):
        return artifact.removeprefix("hf://").split("@", 1)[0]
    return artifact


def served_name(endpoint: dict[str, Any], model: dict[str, Any]) -> str:
    args = endpoint["spec"].get("engine", {}).get("args", {})
    return str(args.get("served_model_name") or model["metadata"]["name"])


def vllm_args(endpoint: dict[str, Any], model: dict[str, Any], port: int = VLLM_PORT) -> list[str]:
    """``vllm serve MODEL --flag value ...`` (without the leading ``vllm serve``)."""
    engine = endpoint["spec"].get("engine", {})
    args = VllmArgs.model_validate(engine.get("args", {})).model_dump()
    out = [model_source(model["spec"]), "--port", str(port), "--served-model-name", served_name(endpoint, model)]
    revision = str(model["spec"].get("artifact", "")).partition("@")[2]
    if revision:
        out += ["--revision", revision]
    for name, value in args.items():
        if name == "served_model_name" or value is None or (name in VLLM_DEFAULTS and value == VLLM_DEFAULTS[name]):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else f"--no-{flag[2:]}")
        else:
            out += [flag, str(value)]
    buckets = engine.get("histogram_buckets") or DEFAULT_LATENCY_BUCKETS
    out += ["--custom-histogram-buckets", json.dumps({"request_latency": buckets}, separators=(",", ":"))]
    for flag, value in sorted(engine.get("extra_args", {}).items()):
        if isinstance(value, bool):
            if value:
                out.append(f"--{flag}")
        else:
            out += [f"--{flag}", str(value)]
    return out


def revision_id(endpoint: dict[str, Any], model: dict[str, Any] | None) -> str:
    """What serves: the endpoint's spec and its model's. Same specs, same revision, on every stack."""
    from modelplane.compiler.fingerprint import content_hash

    return "r" + content_hash([endpoint["spec"], (model or {}).get("spec")])[:8]
