"""The Endpoint kind: an LLM served by vLLM with capacity, SLO, routing and rollout declared.

Field choices follow shared/reference/serving.md sections 7-9: the SLO and the
measured per-replica capacity are first class because gates and autoscaling
derive from them; the rollout policy mirrors Argo Rollouts' canary steps.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from modelplane.specs.accelerators import AcceleratorName
from modelplane.specs.base import (
    API_VERSION_DOC,
    KIND_DOC,
    METADATA_DOC,
    ApiVersion,
    Bool,
    Bounded,
    InKeyOrder,
    Metadata,
    StrictModel,
    at_most,
    shared,
)
from modelplane.specs.common import Duration, ModelName, StackName, Text
from modelplane.specs.providers import registry as providers
from modelplane.specs.refs import RefTo

# The vLLM release endpoints run unless engine.image says otherwise; stacks/engine_flags has its flag set
DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.33.0"
DEFAULT_LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0, 5.0]


class VllmArgs(StrictModel):
    """`vllm serve` engine arguments modelplane knows; anything else goes in `extra_args`."""

    tensor_parallel_size: Annotated[int, Field(ge=1)] = Field(
        default=1, description="`--tensor-parallel-size`: GPUs one copy of the model is split across."
    )
    pipeline_parallel_size: Annotated[int, Field(ge=1)] = Field(
        default=1,
        description="`--pipeline-parallel-size`: pipeline stages; with tensor parallelism it must fit `gpus_per_replica`.",
    )
    data_parallel_size: Annotated[int, Field(ge=1)] = Field(
        default=1, description="`--data-parallel-size`: model copies inside one replica."
    )
    api_server_count: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="`--api-server-count`: API server processes in front of the engine; unset: vLLM's default.",
    )
    max_model_len: Annotated[int, Field(ge=16)] | None = Field(
        default=None, description="`--max-model-len`: the longest context served, in tokens; unset: the model's."
    )
    max_num_seqs: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="`--max-num-seqs`: requests batched at once; unset: vLLM's default (256, also the simulator's).",
    )
    max_num_batched_tokens: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="`--max-num-batched-tokens`: tokens per engine step; unset: vLLM's default."
    )
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.9, description="`--gpu-memory-utilization`: the share of each GPU's memory vLLM may take."
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] | None = Field(
        default=None, description="`--dtype`: the weights' and activations' type; unset: vLLM's `auto`."
    )
    quantization: Literal["fp8", "awq", "gptq", "bitsandbytes", "compressed-tensors"] | None = Field(
        default=None, description="`--quantization`: the quantization method; unset: none."
    )
    kv_cache_dtype: Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"] | None = Field(
        default=None, description="`--kv-cache-dtype`: the KV cache's type; unset: vLLM's `auto`."
    )
    enable_prefix_caching: Bool | None = Field(
        default=None,
        description="`--enable-prefix-caching` (true) or `--no-enable-prefix-caching` (false); unset: vLLM's default.",
    )
    async_scheduling: Bool = Field(
        default=False, description="`--async-scheduling`: overlap scheduling with the model's forward pass."
    )
    enforce_eager: Bool = Field(default=False, description="`--enforce-eager`: no CUDA graphs (slower, less memory).")
    enable_server_load_tracking: Bool = Field(
        default=True, description="`--enable-server-load-tracking`: vLLM's `/load` endpoint, which routers read."
    )
    served_model_name: str | None = Field(
        default=None, description="`--served-model-name`: the model name clients send; unset: the model's name."
    )
    seed: int | None = Field(default=None, description="`--seed`: the random seed; unset: vLLM's default.")


SIMULATOR_MAX_NUM_SEQS = 256
"""The local simulator's batch size where ``engine.args.max_num_seqs`` is unset (vLLM's own default)."""


class Simulator(StrictModel):
    """How the local stack's vLLM simulator behaves for this revision (ignored by real vLLM)."""

    ttft_ms: Annotated[float, Field(ge=0)] = Field(
        default=20.0, description="Time to the first token of a request, in ms (the prefill)."
    )
    tpot_ms: Annotated[float, Field(ge=0)] = Field(
        default=2.0, description="Time per output token after the first, in ms (one decode step)."
    )
    error_rate: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.0, description="The share of requests answered with an injected 500."
    )
    added_latency_ms: Annotated[float, Field(ge=0)] = Field(
        default=0.0, description="Latency added to every request, in ms."
    )
    latency_multiplier: Annotated[float, Field(gt=0)] = Field(
        default=1.0, description="A factor on every latency (3: three times slower)."
    )
    crash_after_requests: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="The replica exits after serving this many requests; unset: never."
    )


class Engine(StrictModel):
    name: Literal["vllm"] = Field(default="vllm", description="The serving engine: vLLM.")
    image: str = Field(
        default=DEFAULT_VLLM_IMAGE,
        description="The container image on Kubernetes stacks; its vLLM release decides which engine flags are checked.",
    )
    args: VllmArgs = Field(
        default_factory=shared(VllmArgs),
        description="The `vllm serve` arguments modelplane knows and checks (each rendered as its `--flag`).",
    )
    extra_args: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")], str | int | float | bool], InKeyOrder
    ] = Field(default_factory=dict, description="Escape hatch: more `--flag value` pairs passed verbatim.")
    histogram_buckets: list[float] = Field(
        default_factory=lambda: list(DEFAULT_LATENCY_BUCKETS),
        description="Request-latency buckets; vLLM's defaults are too coarse for a p99 < 1 s gate.",
    )
    simulator: Simulator = Field(
        default_factory=shared(Simulator),
        description="Latency model and fault injection of the local stack's simulator (tests and demos).",
    )


class Resources(StrictModel):
    accelerator: AcceleratorName = Field(
        description="The GPU model each replica runs on (`H100`, `L4`...; any case), from the accelerator catalog; a stack's pool of it hosts the replicas."
    )
    gpus_per_replica: Annotated[int, Bounded("every replica runs on at least 1 GPU: write 1 or more", ge=1)] = Field(
        default=1, description="GPUs each replica runs on; tensor x pipeline parallelism must fit in them."
    )
    cpu: str = Field(default="8", description="CPU each replica requests, as Kubernetes writes it (`8`, `500m`).")
    memory: str = Field(default="64Gi", description="Memory each replica requests, as Kubernetes writes it (`64Gi`).")


class Ramp(StrictModel):
    """How fast traffic can grow: what the autoscaler must follow while new replicas start."""

    percent_per_minute: Annotated[float, Field(gt=0, le=1000)] = Field(
        default=2.0,
        description="Fastest growth of traffic, in percent of the peak per minute (2: a diurnal ramp; "
        "a launch or a failover from another region is faster).",
    )


class Traffic(StrictModel):
    qps: Annotated[float, Field(gt=0)] = Field(description="Peak requests per second the endpoint must serve.")
    input_tokens: Annotated[int, Field(ge=1)] = Field(
        default=50, description="The typical prompt length, in tokens (sizing, synthetic traffic)."
    )
    output_tokens: Annotated[int, Field(ge=1)] = Field(
        default=50, description="The typical answer length, in tokens (sizing, timeouts, synthetic traffic)."
    )
    ramp: Ramp = Field(default_factory=shared(Ramp), description="How fast traffic may grow, for the autoscaler check.")


class Slo(StrictModel):
    p99_latency_ms: Annotated[float, Field(gt=0)] = Field(
        description="The 99th percentile of request latency the endpoint must stay under, in ms; canary gates and sizing use it."
    )
    availability: Annotated[
        float, Bounded("availability is a fraction below 1: 99.9% is 0.999, 99.99% is 0.9999", gt=0, lt=1)
    ] = Field(
        default=0.999,
        description="The share of requests that must succeed, a fraction below 1 (0.999 is 99.9%); the error budget and the canary's sample size come from it.",
    )
    ttft_p99_ms: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="The 99th percentile of time to the first token, in ms; unset: not checked."
    )


class Capacity(StrictModel):
    target_qps_per_replica: (
        Annotated[float, Bounded("the QPS one replica sustains at the SLO: a positive number, at least 1e-6", ge=1e-6)]
        | None
    ) = Field(default=None, description="Measured sustainable QPS of one replica at the SLO.")
    target_concurrency_per_replica: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Requests in flight one replica holds at the SLO; the autoscaler's default target for `metric: concurrency`.",
    )
    max_concurrency_per_replica: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="In-flight requests one replica is given at most (routers shed the rest elsewhere); "
        "default twice target_concurrency_per_replica, none when that is unset.",
    )
    benchmark_ref: str | None = Field(
        default=None, description="Free-form reference to where the declared figures were measured (shown in plans)."
    )
    profile: str | None = Field(
        default=None,
        description="A capacity profile (JSON, written by `modelplane bench`) relative to the project; default: "
        "the profile in the project's profiles folder whose key matches this endpoint.",
    )
    pod_startup: Duration | None = Field(
        default=None,
        description="From a replica's scheduling to its first answer (image pull, weights, warm-up); default 5m on "
        "Kubernetes stacks and 10s on the local stack.",
    )

    def concurrency_cap(self) -> int | None:
        """The per-replica cap routers enforce (local router, Envoy's circuit breakers)."""
        if self.max_concurrency_per_replica is not None:
            return self.max_concurrency_per_replica
        return 2 * self.target_concurrency_per_replica if self.target_concurrency_per_replica else None


class ScalePolicy(StrictModel):
    stabilization: Duration = Field(
        description="How long a lower (scale down) or higher (scale up) desired count must persist before the autoscaler acts."
    )
    max_percent_per_period: Annotated[int, Field(ge=1)] = Field(
        default=100, description="The most replicas added or removed per `period`, in percent of the current count."
    )
    period: Duration = Field(default="15s", description="The period `max_percent_per_period` applies to.")


class Autoscaling(StrictModel):
    min_replicas: Annotated[int, Field(ge=0)] = Field(
        description="The fewest replicas of a revision; the autoscaler runs only when it is below `max_replicas`."
    )
    max_replicas: Annotated[int, Field(ge=1)] = Field(
        description="The most replicas of a revision; sizing checks the declared peak fits under it."
    )
    metric: Literal["concurrency", "queue_depth", "qps", "kv_usage"] = Field(
        default="concurrency",
        description="What the autoscaler scales on: requests in flight at the router (`concurrency`), vLLM's waiting queue (`queue_depth`), requests per second (`qps`) or KV cache use (`kv_usage`).",
    )
    target: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="The metric's value per replica to scale at; default from `capacity` (or 32 in flight, 4 waiting, 80% KV use).",
    )
    scale_up: ScalePolicy = Field(
        default_factory=shared(lambda: ScalePolicy(stabilization="0s", max_percent_per_period=100)),
        description="How fast replicas are added.",
    )
    scale_down: ScalePolicy = Field(
        default_factory=shared(lambda: ScalePolicy(stabilization="15m", max_percent_per_period=10, period="60s")),
        description="How fast replicas are removed.",
    )

    _bounds = at_most("min_replicas", "max_replicas")


class Retries(StrictModel):
    max_retries: Annotated[int, Field(ge=0, le=5)] = Field(
        default=1, description="Retries of a failed request, each on another replica."
    )
    per_try_timeout_ms: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Envoy's per-try timeout; default derived from the SLO and token shape (stacks.timeouts).",
    )
    retry_on: list[int] = Field(
        default_factory=lambda: [503, 429], description="The HTTP statuses a request is retried on."
    )


class Routing(StrictModel):
    policy: Literal["power_of_two_choices", "round_robin", "least_request"] = Field(
        default="power_of_two_choices",
        description="How a replica is picked within a revision: two random choices, the less loaded one (`power_of_two_choices`), `round_robin` or `least_request`.",
    )
    choice_count: Annotated[int, Field(ge=2, le=10)] = Field(
        default=2, description="Replicas compared per pick by the power-of-two-choices and least-request policies."
    )
    timeout_ms: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Envoy's route timeout (all tries); default derived from the per-try timeout."
    )
    retries: Retries = Field(
        default_factory=shared(Retries), description="Retries of failed requests on other replicas."
    )
    slow_start: Duration | None = Field(
        default="30s",
        description="How long a new replica takes to ramp up to its full share of traffic; null: at once.",
    )


class Health(StrictModel):
    startup_failure_threshold: Annotated[int, Field(ge=1)] = Field(
        default=60,
        description="Startup probe failures (one per `period`) a replica may have before it counts as failed to start.",
    )
    period: Duration = Field(default="10s", description="How often a replica's health is probed.")
    drain_grace: Duration = Field(
        default="30s", description="How long a removed replica may finish its requests before it is stopped."
    )


class Placement(StrictModel):
    zones: list[str] = Field(
        default_factory=list,
        description="The zones replicas spread over; two or more: sizing keeps the SLO with one zone lost (at 99.9% or tighter).",
    )
    max_skew: Annotated[int, Field(ge=1)] = Field(
        default=1, description="The most replicas one zone may have beyond another (Kubernetes topology spread)."
    )
    pdb_max_unavailable: Annotated[str, StringConstraints(pattern=r"^[0-9]+%?$")] = Field(
        default="10%",
        description="Replicas a voluntary disruption may take down at once (PodDisruptionBudget): a count or a percentage.",
    )


class RolloutStep(StrictModel):
    weight: Annotated[
        int, Bounded("a weight is a whole percentage of traffic, 0 to 100: 10 means 10%", ge=0, le=100)
    ] = Field(description="The canary's share of traffic at this step, in percent; weights never decrease.")
    pause: Duration | Literal["manual"] | None = Field(
        default=None,
        description="How long to hold at this step before the next (a duration), or `manual` to wait for `modelplane approve`; null: no pause.",
    )
    analysis: Bool = Field(
        default=True, description="Whether the step's analysis window must pass before the rollout moves on."
    )


WhenIdle = Literal["synthesize", "hold", "fail", "pass"]


class Synthetic(StrictModel):
    """Traffic a rollout generates when real traffic cannot fill an analysis window (``when_idle: synthesize``)."""

    max_qps: Annotated[float, Field(gt=0, le=10_000)] = Field(
        default=50.0, description="The most synthetic requests per second a rollout sends."
    )
    stream_fraction: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.0, description="The share of synthetic requests that stream."
    )
    prompts: str | None = Field(
        default=None,
        description='A JSONL file (relative to the project) of {"prompt": ...} or {"messages": [...]} lines '
        "replayed in turn; default: prompts of the endpoint's declared input length.",
    )


class Analysis(StrictModel):
    window: Duration = Field(
        default="1m", description="How long each analysis window collects requests before it is judged."
    )
    min_requests: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Below this a window is inconclusive; default: what the error budget needs "
        "(specs.sample_size: a canary at 10x the budget fails 80% of windows, one within it 5% at most).",
    )
    max_p99_ratio_to_stable: Annotated[float, Field(gt=1)] = Field(
        default=1.1,
        description="The latency margin: the canary fails when slower than stable by this factor (and 20 ms), "
        "as `latency_test` judges it.",
    )
    latency_test: Literal["rank", "p99_ratio"] = Field(
        default="rank",
        description="rank: a one-sided Mann-Whitney test of every successful request's latency against stable's "
        "times the margin, at `significance` (runtime/latency_test.py); p99_ratio: the window's p99s (medians "
        "under 100 requests a side), also where a stack's metrics give no per-request latencies.",
    )
    significance: Annotated[float, Field(gt=0, lt=0.5)] = Field(
        default=0.01, description="The rank test fails the canary at a p-value under this."
    )
    failure_limit: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="Failed windows in a row a step tolerates before it rolls back (each failure is re-checked "
        "by another window); default: one re-check of a marginal failure, none of a decisive one.",
    )
    inconclusive_limit: Annotated[int, Field(ge=0)] = Field(
        default=2, description="Inconclusive windows retried before `when_idle` (or `on_failure`) decides."
    )
    when_idle: WhenIdle | None = Field(
        default=None,
        description="What a step does when its windows lack requests: synthesize traffic, hold for `approve`, "
        "fail (roll back) or pass; default synthesize on a local stack, hold elsewhere.",
    )
    synthetic: Synthetic = Field(
        default_factory=shared(Synthetic), description="The synthetic traffic `when_idle: synthesize` sends."
    )
    share_tolerance: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.2,
        description="How far below its weight the canary's share of real traffic may fall (0.2: 20% of the "
        "weight) beyond binomial noise before the share gate fails it.",
    )

    def idle_policy(self, provider: str) -> WhenIdle:
        return idle_policy(self.when_idle, provider)


def idle_policy(when_idle: WhenIdle | None, provider: str) -> WhenIdle:
    """``when_idle`` as it applies on a stack of ``provider`` (the one place its default is decided): the local
    stack can always reach its router, so it synthesizes; elsewhere a person decides (``hold``)."""
    if when_idle is not None:
        return when_idle
    return "synthesize" if providers.is_local(provider) else "hold"


@shared
def _default_steps() -> tuple[RolloutStep, ...]:
    return (
        RolloutStep(weight=5, pause="1m"),
        RolloutStep(weight=25, pause="1m"),
        RolloutStep(weight=50, pause="1m"),
        RolloutStep(weight=100),
    )


class Rollout(StrictModel):
    strategy: Literal["canary"] = Field(default="canary", description="How a new revision rolls out: a canary.")
    steps: list[RolloutStep] = Field(
        default_factory=lambda: list(_default_steps()),
        description="The canary's steps, in order: the traffic weight, a pause and whether the step is analysed. "
        "Default 5%, 25%, 50% with a minute each, then 100%.",
    )
    analysis: Analysis = Field(
        default_factory=shared(Analysis),
        description="How each step's window is judged: sample size, errors, latency, traffic share.",
    )
    on_failure: Literal["rollback", "pause"] = Field(
        default="rollback",
        description="What a step left inconclusive does when `when_idle` does not decide: `rollback`, or `pause` for `modelplane approve`. A failed gate always rolls back.",
    )
    progress_deadline: Duration = Field(
        default="30m",
        description="How long the canary may take to become ready, and a step's analysis to reach a verdict "
        "(pauses and approvals aside), before the rollout rolls back.",
    )

    @model_validator(mode="after")
    def _weights_increase(self) -> Rollout:
        weights = [s.weight for s in self.steps]
        if weights != sorted(weights):
            raise ValueError(f"canary step weights must not decrease: {weights}")
        return self


DEFAULT_TARGET_IN_FLIGHT = 32
"""Requests in flight per replica to scale at when the spec gives neither a target nor a measured capacity."""
DEFAULT_TARGET_WAITING = 4
"""Requests waiting in vLLM's queue per replica to scale at (``queue_depth``) without a target."""
DEFAULT_TARGET_KV_USAGE = 0.8


class EndpointSpec(StrictModel):
    model: Annotated[ModelName, RefTo(("model",), edge="serves")] = Field(
        description="The model served (its name): lineage edge `serves`; a new model version rolls the endpoint out."
    )
    model_version: Text | None = Field(default=None, description="Pinned model version; defaults to the model's.")
    stack: Annotated[StackName, RefTo(("stack",), edge="hosts")] = Field(
        description="The stack the endpoint runs on (its name): lineage edge `hosts`."
    )
    engine: Engine = Field(
        default_factory=shared(Engine),
        description="The serving engine: vLLM, its image and arguments (and the local simulator's behaviour).",
    )
    resources: Resources = Field(description="What each replica runs on: the accelerator, GPUs, CPU and memory.")
    traffic: Traffic = Field(
        description="The declared peak load and its token shape: sizing, autoscaling and canary sample sizes come from it."
    )
    slo: Slo = Field(
        description="The latency and availability the endpoint promises; canary gates and sizing judge against it."
    )
    capacity: Capacity = Field(
        default_factory=shared(Capacity),
        description="What one replica sustains within the SLO (declared, or from a measured profile).",
    )
    autoscaling: Autoscaling = Field(
        description="The replica bounds and the policy the autoscaler (locally) or HPA/KEDA (Kubernetes) runs."
    )
    routing: Routing = Field(
        default_factory=shared(Routing), description="How the router picks replicas, retries and times out."
    )
    health: Health = Field(default_factory=shared(Health), description="Probes, and how replicas drain.")
    placement: Placement = Field(
        default_factory=shared(Placement), description="Zones, spread and the disruption budget."
    )
    rollout: Rollout = Field(
        default_factory=shared(Rollout),
        description="How a new revision rolls out: canary steps, their analysis and what happens on failure.",
    )

    def scale_target(self) -> float:
        """Per replica, the value of ``autoscaling.metric`` to scale at: the one policy the local autoscaler runs
        and the Kubernetes stack renders (HPA or KEDA)."""
        a = self.autoscaling
        if a.target:
            return a.target
        if a.metric == "qps":
            return self.capacity.target_qps_per_replica or 1.0  # unreachable: _qps_scaling_has_a_target
        if a.metric == "queue_depth":
            return DEFAULT_TARGET_WAITING
        if a.metric == "kv_usage":
            return DEFAULT_TARGET_KV_USAGE
        if self.capacity.target_concurrency_per_replica:
            return self.capacity.target_concurrency_per_replica
        if self.capacity.target_qps_per_replica:  # Little's law at half the p99: in flight = rate x time
            return max(1, math.ceil(self.capacity.target_qps_per_replica * self.slo.p99_latency_ms / 1000 / 2))
        return DEFAULT_TARGET_IN_FLIGHT

    @model_validator(mode="after")
    def _qps_scaling_has_a_target(self) -> EndpointSpec:
        if self.autoscaling.metric == "qps" and not (self.autoscaling.target or self.capacity.target_qps_per_replica):
            raise ValueError(
                "autoscaling.metric qps needs a target: set autoscaling.target (requests/s per replica) "
                "or capacity.target_qps_per_replica"
            )
        return self

    @model_validator(mode="after")
    def _parallelism_fits(self) -> EndpointSpec:
        a = self.engine.args
        need = a.tensor_parallel_size * a.pipeline_parallel_size
        if need > self.resources.gpus_per_replica:
            raise ValueError(
                f"tensor_parallel_size x pipeline_parallel_size = {need} GPUs, "
                f"but resources.gpus_per_replica is {self.resources.gpus_per_replica}"
            )
        return self


class Endpoint(StrictModel):
    """An LLM serving endpoint: which model, where, how much, how fast, how it rolls out."""

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Endpoint"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: EndpointSpec = Field(
        description="The endpoint: which model, on which stack, how much traffic, how fast, how it scales and rolls out."
    )
