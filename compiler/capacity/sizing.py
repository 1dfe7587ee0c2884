"""How many replicas an endpoint needs for its declared peak, and what they cost.

The rule (docs/capacity.md), for an endpoint with per-replica capacity ``c`` (a
measured profile's requests/s at the SLO, or the declared ``capacity.target_qps_per_replica``):

1. ``within SLO`` = ceil(peak / c): the fewest replicas that hold the peak within the p99 SLO.
2. ``steady`` = ceil(peak / (c x u)), with ``u`` the autoscaler's target utilisation (its target
   in-flight requests over the in-flight at capacity): where the autoscaler holds the fleet.
3. ``zone lost`` = ceil(peak / (c x u) x Z / (Z - 1)) where availability is 0.999 or tighter and the
   endpoint spreads over Z >= 2 zones: losing one zone must not breach the SLO.
4. The autoscaler must follow the ramp: traffic grows ``ramp x (node provisioning + pod start)``
   while a new replica starts; the headroom ``1/u - 1`` must cover it.
5. During a rollout the canary runs beside a full stable revision: the pool needs room for the
   canary's replicas at the largest analysed step below 100%.

``max_replicas`` below the need is an error; ``min_replicas`` below ``steady`` a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from modelplane.compiler.capacity.prices import Price, monthly
from modelplane.specs.common import duration_seconds
from modelplane.specs.platform import StackSpec
from modelplane.specs.providers import registry as providers
from modelplane.specs.serving import EndpointSpec

LOCAL_POD_STARTUP_S = 10.0
CLOUD_POD_STARTUP_S = 300.0
ZONE_RULE_AVAILABILITY = 0.999
"""At this availability or tighter, capacity must survive the loss of one zone."""


@dataclass(frozen=True)
class CapacitySource:
    """What one replica sustains, and where that figure comes from (a profile, or the spec's declaration)."""

    qps_per_replica: float
    in_flight: float | None
    """Requests in flight per replica at that capacity (a profile measures it)."""
    what: str
    """Where the figure comes from, for the plan: a profile's path and measurement, or the spec."""
    profile: str | None = None
    stale: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sizing:
    """One endpoint's replicas at its declared peak, with a zone lost and for a canary, from its capacity source."""

    endpoint: str
    peak_qps: float
    source: CapacitySource
    utilisation: float
    utilisation_known: bool
    """False where the autoscaler's target does not relate to the capacity: sized at 100%."""
    within_slo: int
    profile_replicas: int
    """``peak / capacity``, rounded up: the count before the fleet simulation checked it."""
    simulated: bool
    """Whether ``within_slo`` is the fleet simulation's (a fresh profile with a latency curve to calibrate on)."""
    steady: int
    zones: int
    zone_lost: int
    needed: int
    """What ``max_replicas`` must allow: ``zone_lost`` where the zone rule applies, else ``steady``."""
    canary_extra: int
    reaction_s: float
    growth: float
    """Traffic growth (fraction of the load) while a new replica starts."""
    min_replicas: int
    max_replicas: int
    gpus_per_replica: int
    accelerator: str
    price: Price | None
    notes: list[str] = field(default_factory=list)

    def gpus(self, replicas: int) -> int:
        return replicas * self.gpus_per_replica

    def cost(self, replicas: int) -> float:
        return monthly(self.gpus(replicas), self.price)


def target_utilisation(spec: EndpointSpec, source: CapacitySource) -> float | None:
    """The share of a replica's capacity the autoscaler holds it at; None where nothing relates its target to
    the capacity (an in-flight target without a measured in-flight at capacity, queue depth, KV usage)."""
    a = spec.autoscaling
    target = spec.scale_target()
    if a.metric == "qps":
        return min(1.0, target / source.qps_per_replica)
    if a.metric == "concurrency":
        at_capacity = source.in_flight or spec.capacity.target_concurrency_per_replica
        if at_capacity:
            return min(1.0, target / at_capacity)
    return None


def size(
    name: str,
    spec: EndpointSpec,
    stack: StackSpec | None,
    source: CapacitySource,
    price: Price | None,
    simulated: int | None = None,
) -> Sizing:
    """``simulated``: the fewest replicas the fleet simulation (calibrated on the profile) finds within the SLO
    at the peak; where given it replaces ``peak / capacity`` (a probe of one replica misses what power of two
    choices gains by balancing a fleet), and the other figures scale with it."""
    peak = float(spec.traffic.qps)
    c = source.qps_per_replica
    known = target_utilisation(spec, source)
    u = 1.0 if known is None else known  # unknown: sized at the capacity itself, no headroom assumed
    profile_count = math.ceil(peak / c - 1e-9)
    within = simulated if simulated is not None else profile_count
    if simulated is not None:
        c = peak / simulated  # the per-replica rate the simulated fleet holds
    steady_exact = peak / (c * u)
    steady = math.ceil(steady_exact - 1e-9)
    zones = len(spec.placement.zones)
    provider = stack.provider if stack is not None else "local"
    # zones mean nothing on one machine: the local stack is sized without the zone rule
    zone_rule = spec.slo.availability >= ZONE_RULE_AVAILABILITY and zones >= 2 and not providers.is_local(provider)
    zone_lost = math.ceil(steady_exact * zones / (zones - 1) - 1e-9) if zone_rule else steady
    pools = [p for p in (stack.gpu_pools if stack else []) if p.accelerator == spec.resources.accelerator]
    provisioning = min((duration_seconds(p.provisioning) for p in pools), default=0.0)
    startup = (
        duration_seconds(spec.capacity.pod_startup)
        if spec.capacity.pod_startup
        else (LOCAL_POD_STARTUP_S if providers.is_local(provider) else CLOUD_POD_STARTUP_S)
    )
    reaction = provisioning + startup + duration_seconds(spec.autoscaling.scale_up.stabilization)
    growth = spec.traffic.ramp.percent_per_minute / 100 * reaction / 60
    analysed = [s.weight for s in spec.rollout.steps if 0 < s.weight < 100]
    canary_extra = math.ceil(max(analysed, default=0) / 100 * steady) if analysed else 0
    return Sizing(
        endpoint=name,
        peak_qps=peak,
        source=source,
        utilisation=u,
        utilisation_known=known is not None,
        within_slo=within,
        profile_replicas=profile_count,
        simulated=simulated is not None,
        steady=steady,
        zones=zones if zone_rule else 0,
        zone_lost=zone_lost,
        needed=zone_lost,
        canary_extra=canary_extra,
        reaction_s=reaction,
        growth=growth,
        min_replicas=spec.autoscaling.min_replicas,
        max_replicas=spec.autoscaling.max_replicas,
        gpus_per_replica=spec.resources.gpus_per_replica,
        accelerator=spec.resources.accelerator,
        price=price,
    )


RAMP_TOLERANCE = 0.02
"""Growth within 2% of capacity is within a profile's measurement interval: not worth a warning."""


def ramp_headroom_ok(s: Sizing) -> bool:
    """Whether the autoscaler's headroom covers the growth while a replica starts (unknown headroom: not judged)."""
    return not s.utilisation_known or s.utilisation * (1 + s.growth) <= 1.0 + RAMP_TOLERANCE


def scale_up_rate_per_minute(spec: EndpointSpec) -> float:
    """The most the autoscaler may grow the fleet per minute, in percent."""
    up = spec.autoscaling.scale_up
    return up.max_percent_per_period * 60 / max(duration_seconds(up.period), 1e-9)
