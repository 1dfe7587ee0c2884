"""Capacity profiles: what one replica of an exact configuration sustains within an SLO, as measured.

A profile is a versioned JSON file (``modelplane bench`` writes one, ``bench import`` converts
``vllm bench serve`` and GuideLLM results into one). Its ``key`` binds it to what was measured:
the model and its artifact, the accelerator and GPUs per replica, the engine image and version,
a digest of the engine arguments that change performance, and the token shape. ``key_of``
computes the same key from an endpoint as it renders now, so ``differences`` names whatever
moved since the measurement (a stale profile is a profile of something else).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelplane.specs.models import ModelSpec
from modelplane.specs.serving import EndpointSpec

PROFILE_FORMAT_VERSION = 1

# flags that name or observe a replica without changing what it sustains
_NEUTRAL_FLAGS = frozenset({"--port", "--served-model-name", "--custom-histogram-buckets", "--seed"})


class _Model(BaseModel):
    # built on first use: a plan of endpoints without profiles never reads one (~8 ms of every plan's imports)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ProfileKey(_Model):
    """What a profile was measured on; equal keys mean the measurement applies."""

    model: str = Field(description="The model's name (`model/NAME`).")
    artifact: str = Field(description="The model's artifact URI (with its revision), or its trained digest.")
    model_version: str = Field(description="The model version served.")
    accelerator: str = Field(description="GPU type of a replica, e.g. `H100`.")
    gpus_per_replica: int = Field(ge=1)
    engine_image: str = Field(description="The engine image, e.g. `vllm/vllm-openai:v0.33.0`.")
    engine_version: str = Field(description="The engine version the image runs, e.g. `0.33.0`.")
    engine_args: list[str] = Field(
        description="The `vllm serve` flags that change performance, in render order (port and names left out)."
    )
    engine_args_digest: str = Field(description="sha256 of `engine_args`, for a quick comparison.")
    input_tokens: int = Field(ge=1, description="Prompt tokens per request measured.")
    output_tokens: int = Field(ge=1, description="Generated tokens per request measured.")


class Percentiles(_Model):
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


class Probe(_Model):
    """One load level of the search."""

    offered_qps: float | None = Field(default=None, description="Open-loop request rate offered (requests/s).")
    concurrency: int | None = Field(default=None, description="Closed-loop concurrency, where the probe used one.")
    duration_s: float = Field(ge=0)
    requests: int = Field(ge=0, description="Requests completed or failed in the measured part.")
    errors: int = Field(ge=0)
    throughput_qps: float = Field(ge=0, description="Completed requests per second per replica.")
    in_flight: float | None = Field(default=None, description="Mean requests in flight per replica.")
    ttft_ms: Percentiles = Field(default_factory=Percentiles)
    itl_ms: Percentiles = Field(default_factory=Percentiles)
    e2e_ms: Percentiles = Field(default_factory=Percentiles)
    meets_slo: bool


class CapacityAtSlo(_Model):
    """The highest per-replica throughput measured within the SLO, with its confidence interval."""

    qps_per_replica: float = Field(gt=0)
    low: float = Field(gt=0, description="Lower bound of the confidence interval (requests/s).")
    high: float = Field(gt=0, description="Upper bound of the confidence interval (requests/s).")
    confidence: float = Field(default=0.95, gt=0, lt=1)
    in_flight_per_replica: float = Field(
        gt=0, description="Requests in flight per replica at that throughput: what the autoscaler scales at."
    )
    p99_latency_ms: float = Field(gt=0, description="The SLO's p99 end-to-end latency the capacity is measured at.")
    ttft_p99_ms: float | None = None


class Measured(_Model):
    at: str = Field(description="When (ISO 8601, UTC).")
    where: str = Field(description="What ran the engine: `vllm on 1x H100`, `the local simulator on <host>`.")
    engine: Literal["vllm", "simulator"] = Field(description="A real engine, or modelplane's local simulator.")
    tool: str = Field(description="What measured: `modelplane bench 0.1.0`, `vllm bench serve`, `guidellm 0.7.3`.")
    endpoint: str | None = Field(default=None, description="The endpoint measured (`endpoint/NAME`), where known.")
    environment: str | None = None
    replicas: int = Field(default=1, ge=1, description="Replicas behind the router during the measurement.")


class Profile(_Model):
    """A measured capacity profile (``modelplane bench``)."""

    format_version: Literal[1] = 1
    key: ProfileKey
    capacity: CapacityAtSlo
    probes: list[Probe]
    measured: Measured


def profile_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"modelplane capacity profile (format_version {PROFILE_FORMAT_VERSION})"
    return schema


_VERSION_TAG = re.compile(r":v?([0-9]+(?:\.[0-9]+)*[0-9A-Za-z.+-]*)$")


def engine_version(image: str) -> str:
    """The version an engine image's tag names (``vllm/vllm-openai:v0.33.0`` -> ``0.33.0``), else the tag."""
    m = _VERSION_TAG.search(image)
    if m:
        return m.group(1)
    return image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else "latest"


def performance_args(spec: EndpointSpec, model_name: str, model: ModelSpec) -> list[str]:
    """The rendered `vllm serve` flags that change what a replica sustains (the port and names left out)."""
    from modelplane.stacks.engine import engine_args

    out = []
    for arg in engine_args(spec, model_name, model):
        if arg.flag in _NEUTRAL_FLAGS:
            continue
        out.append(arg.flag if arg.value is None else f"{arg.flag}={arg.value}")
    return out


def args_digest(args: list[str]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(args).encode()).hexdigest()


def key_of(spec: EndpointSpec, model_name: str, model: ModelSpec) -> ProfileKey:
    """The key of a profile that would describe this endpoint as it renders now."""
    args = performance_args(spec, model_name, model)
    return ProfileKey(
        model=model_name,
        artifact=model.artifact,
        model_version=str(spec.model_version or model.version),
        accelerator=spec.resources.accelerator,
        gpus_per_replica=spec.resources.gpus_per_replica,
        engine_image=spec.engine.image,
        engine_version=engine_version(spec.engine.image),
        engine_args=args,
        engine_args_digest=args_digest(args),
        input_tokens=spec.traffic.input_tokens,
        output_tokens=spec.traffic.output_tokens,
    )


def differences(measured: ProfileKey, now: ProfileKey) -> list[str]:
    """What changed between the measured configuration and the rendered one, each as `what: before -> after`."""
    out = []
    for name in ProfileKey.model_fields:
        if name in ("engine_args", "engine_args_digest"):
            continue
        a, b = getattr(measured, name), getattr(now, name)
        if a != b:
            out.append(f"{name.replace('_', ' ')}: {a} -> {b}")
    if measured.engine_args_digest != now.engine_args_digest:
        before, after = _flags(measured.engine_args), _flags(now.engine_args)
        for flag in sorted(set(before) | set(after)):
            if before.get(flag) != after.get(flag):
                out.append(f"{flag}: {_shown(before.get(flag))} -> {_shown(after.get(flag))}")
    return out


def _flags(args: list[str]) -> dict[str, str]:
    return {a.partition("=")[0]: a.partition("=")[2] or "on" for a in args}


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else value
