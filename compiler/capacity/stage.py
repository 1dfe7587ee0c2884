"""The capacity stage: bind each endpoint to its profile, size it, cost it, and say what does not hold.

``diagnostics`` is what ``validate`` and ``plan`` report (a missing or stale profile, too few
``max_replicas``, a pool too small, an autoscaler that cannot follow the ramp), each at the spec
line to change. ``sizings`` gives the figures ``plan`` shows per endpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from modelplane.compiler.capacity.prices import Price, price_for
from modelplane.compiler.capacity.sizing import (
    CapacitySource,
    Sizing,
    ramp_headroom_ok,
    scale_up_rate_per_minute,
    size,
)
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.source.files import FileSource, Source
from modelplane.errors import Diagnostic, Location
from modelplane.specs.base import NodeId
from modelplane.specs.models import Model
from modelplane.specs.platform import Stack
from modelplane.specs.providers import registry as providers
from modelplane.specs.serving import SIMULATOR_MAX_NUM_SEQS, Endpoint, EndpointSpec

if TYPE_CHECKING:
    from modelplane.compiler.capacity.profile import Profile

# The profile models and the fleet simulation are imported where a profile is read or simulated: a project
# without profiles (every new one) never needs them, and their models cost a cold plan ~8 ms to define.
PROFILE_MAX_BYTES = 4 * 1024 * 1024


@dataclass
class Profiles:
    """The project's profiles by path, and what could not be read."""

    found: dict[str, Profile] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)


def profile_patterns(folder: str) -> list[str]:
    return [f"{folder.strip('/')}/**/*.json"]


def load_profiles(source: Source, folder: str, extra: tuple[str, ...] = ()) -> Profiles:
    """Every profile under ``folder`` (and the ``extra`` paths endpoints name), each validated."""
    out = Profiles()
    paths = sorted({*source.glob(profile_patterns(folder), out.problems), *extra})
    for path in paths:
        if not source.exists(path):
            continue  # a named profile that is missing: the endpoint's diagnostic says so
        try:
            raw = source.read(path)
            if len(raw) > PROFILE_MAX_BYTES:
                raise ValueError(f"{len(raw):,} bytes, over {PROFILE_MAX_BYTES:,}")
            from modelplane.compiler.capacity.profile import Profile

            out.found[path] = Profile.model_validate(orjson.loads(raw))
        except (OSError, ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            out.problems.append(
                Diagnostic(
                    "invalid-profile",
                    f"capacity profile {path} cannot be used: {first}",
                    Location(path),
                    "write it again with `modelplane bench`, or convert a benchmark with `modelplane bench import`",
                    severity="warning",
                )
            )
    return out


def profiles_of(graph: LineageGraph, source: Source | None = None) -> Profiles:
    """The profiles of a compiled project (the working tree unless ``source`` says otherwise)."""
    named = tuple(
        _normal(p) for ep in graph.iter_kind("Endpoint") if (p := ep.spec_field("capacity", "profile")) is not None
    )
    return load_profiles(source or FileSource(graph.specs.root), graph.specs.project.profiles, named)


def _normal(path: str) -> str:
    return str(PurePosixPath(path))


@dataclass(frozen=True)
class Binding:
    """The capacity profile an endpoint is sized from, if any, and how it falls short (stale, or missing)."""

    profile: Profile | None
    path: str | None
    stale: tuple[str, ...] = ()
    missing: bool = False
    """The endpoint names a profile file that does not exist."""


def bind(endpoint: Endpoint, model: Model, profiles: Profiles) -> Binding:
    """The endpoint's profile: the one it names, else one whose key is the endpoint's, else the newest one
    measured on this endpoint (stale: its key differs, and the differences say how)."""
    named = endpoint.spec.capacity.profile
    if named is None and not profiles.found:
        # nothing to match: the key (its rendered engine flags are most of a binding) is not needed
        return Binding(None, None)
    from modelplane.compiler.capacity.profile import differences, key_of

    if named is not None:
        path = _normal(named)
        found = profiles.found.get(path)
        if found is None:
            return Binding(None, path, missing=True)
        return Binding(
            found, path, tuple(differences(found.key, key_of(endpoint.spec, model.metadata.name, model.spec)))
        )
    key = key_of(endpoint.spec, model.metadata.name, model.spec)
    for path, p in profiles.found.items():
        if p.key == key:
            return Binding(p, path)
    mine = [
        (p.measured.at, path, p)
        for path, p in profiles.found.items()
        if p.measured.endpoint == f"endpoint/{endpoint.metadata.name}"
    ]
    if mine:
        _, path, p = max(mine)
        return Binding(p, path, tuple(differences(p.key, key)))
    return Binding(None, None)


def capacity_source(endpoint: Endpoint, binding: Binding) -> CapacitySource | None:
    cap = endpoint.spec.capacity
    if binding.profile is not None and not binding.stale:
        p = binding.profile
        what = (
            f"profile {binding.path} ({p.capacity.qps_per_replica:g} req/s per replica, "
            f"{p.capacity.low:g}-{p.capacity.high:g} at {p.capacity.confidence:.0%}; "
            f"{p.measured.where}, {p.measured.at[:10]})"
        )
        return CapacitySource(p.capacity.qps_per_replica, p.capacity.in_flight_per_replica, what, binding.path)
    if cap.target_qps_per_replica:
        what = f"declared capacity.target_qps_per_replica {cap.target_qps_per_replica:g} req/s (not measured)"
        if binding.stale:
            what += f"; profile {binding.path} is stale"
        return CapacitySource(cap.target_qps_per_replica, None, what, binding.path, binding.stale)
    return None


def _stack(graph: LineageGraph, endpoint: Endpoint) -> Stack | None:
    node = graph.nodes.get(NodeId("stack", endpoint.spec.stack))
    return node.model if node is not None and isinstance(node.model, Stack) else None


def _local(graph: LineageGraph, endpoint: Endpoint) -> bool:
    stack = _stack(graph, endpoint)
    return stack is None or providers.is_local(stack.spec.provider)


def _price(stack: Stack | None, endpoint: Endpoint, graph: LineageGraph) -> Price | None:
    if stack is None:
        return None
    s = stack.spec
    pool = next((p for p in s.gpu_pools if p.accelerator == endpoint.spec.resources.accelerator), None)
    return price_for(
        s.provider,
        s.region,
        endpoint.spec.resources.accelerator,
        pool.instance_type if pool else None,
        graph.specs.project.pricing,
    )


def simulated_fleet(spec: EndpointSpec, binding: Binding, source: CapacitySource) -> int | None:
    """The fewest replicas the fleet simulation finds within the p99 SLO at the peak, calibrated on a fresh
    profile's latency curve (None without one: a declared capacity has no curve to simulate)."""
    p = binding.profile
    if p is None or binding.stale or spec.traffic.qps <= 0:
        return None
    from modelplane.compiler.capacity.simulation import calibrate, planned_fleet

    try:
        model = calibrate(p, spec.engine.args.max_num_seqs or SIMULATOR_MAX_NUM_SEQS)
        start = max(1, math.ceil(spec.traffic.qps / source.qps_per_replica - 1e-9))
        return planned_fleet(model, float(spec.traffic.qps), spec.slo.p99_latency_ms, start)
    except ValueError:  # too few probes to fit a curve: the profile's capacity stands alone
        return None


def sizings(graph: LineageGraph, profiles: Profiles) -> dict[NodeId, tuple[Sizing | None, Binding]]:
    """Every endpoint's sizing (None where nothing says what a replica sustains) and its profile binding."""
    out: dict[NodeId, tuple[Sizing | None, Binding]] = {}
    for node in graph.iter_kind("Endpoint"):
        ep = node.model
        assert isinstance(ep, Endpoint)
        model_node = graph.nodes.get(NodeId("model", ep.spec.model))
        if model_node is None or not isinstance(model_node.model, Model):
            continue
        binding = bind(ep, model_node.model, profiles)
        source = capacity_source(ep, binding)
        stack = _stack(graph, ep)
        sized = (
            size(
                node.name,
                ep.spec,
                stack.spec if stack else None,
                source,
                _price(stack, ep, graph),
                simulated_fleet(ep.spec, binding, source),
            )
            if source
            else None
        )
        out[node.id] = (sized, binding)
    return out


def diagnostics(graph: LineageGraph, profiles: Profiles | None = None) -> list[Diagnostic]:
    """What the capacity stage finds wrong or unknown, at the spec lines to change."""
    profiles = profiles if profiles is not None else profiles_of(graph)
    out = list(profiles.problems)
    sized = sizings(graph, profiles)
    env = graph.specs.environment
    for nid, (s, binding) in sized.items():
        node = graph.nodes[nid]
        endpoint = node.model
        assert isinstance(endpoint, Endpoint)
        spec = endpoint.spec

        def diag(
            path: tuple[str | int, ...], code: str, message: str, hint: str, severity: str = "error", node: Any = node
        ) -> None:
            loc, snippet, width = graph.specs.locate(node, path)
            out.append(Diagnostic(code, message, loc, hint, snippet, width, severity=severity))

        bench = f"modelplane bench {nid.name} --env {env}"
        if binding.missing:
            diag(
                ("spec", "capacity", "profile"),
                "missing-profile",
                f"{nid}: capacity.profile names {binding.path}, which does not exist",
                f"measure one with `{bench} --out {binding.path}`, or fix the path (relative to the project)",
            )
        elif binding.stale:
            diag(
                ("spec", "capacity", "profile") if spec.capacity.profile else ("spec", "engine"),
                "stale-profile",
                f"{nid}: profile {binding.path} was measured on another configuration ({'; '.join(binding.stale)})",
                f"measure it again with `{bench}` (the old figures no longer describe this endpoint)",
                severity="warning",
            )
        elif binding.profile is None and not _local(graph, endpoint):
            # a local stack runs the simulator on this machine: there is nothing to size or pay for
            declared = spec.capacity.target_qps_per_replica
            diag(
                ("spec", "capacity"),
                "no-profile",
                f"{nid} has no measured capacity profile"
                + (f": sized from the declared {declared:g} req/s per replica" if declared else ""),
                f"run `{bench}` against the running endpoint (it writes {graph.specs.project.profiles}/), "
                "or name one with capacity.profile",
                severity="warning",
            )
        if s is None:
            continue
        # a local stack runs simulators on this machine: too few replicas is worth a warning, not a refusal,
        # and neither zones, ramps nor minimums mean anything there
        local = _local(graph, endpoint)
        if s.max_replicas < s.needed:
            why = f"with one of {s.zones} zones lost" if s.zones else "at the autoscaler's target"
            diag(
                ("spec", "autoscaling", "max_replicas"),
                "insufficient-replicas",
                f"{nid}: max_replicas {s.max_replicas} < {s.needed} needed {why} for {s.peak_qps:,.0f} req/s "
                f"({s.source.qps_per_replica:g} req/s per replica at {s.utilisation:.0%} target utilisation)",
                f"raise max_replicas to at least {s.needed}, or re-measure with `{bench}`",
                "warning" if local else "error",
            )
        if local:
            continue
        if s.min_replicas < s.steady and spec.slo.availability >= 0.999:
            diag(
                ("spec", "autoscaling", "min_replicas"),
                "min-below-steady",
                f"{nid}: min_replicas {s.min_replicas} < {s.steady} needed at the declared {s.peak_qps:,.0f} req/s: "
                f"the peak relies on scaling up {s.steady - s.min_replicas} replicas "
                f"({s.reaction_s / 60:.1f} min each to start)",
                f"raise min_replicas to {s.steady}, or declare the peak the endpoint must hold without scaling",
                severity="warning",
            )
        if not ramp_headroom_ok(s):
            need_u = 1 / (1 + s.growth)
            diag(
                ("spec", "traffic", "ramp"),
                "ramp-too-fast",
                f"{nid}: traffic grows {s.growth:.0%} while a replica starts ({spec.traffic.ramp.percent_per_minute:g}%"
                f"/min x {s.reaction_s / 60:.1f} min), but the autoscaler holds replicas at {s.utilisation:.0%} "
                "of capacity: the SLO breaks during the ramp",
                f"lower autoscaling.target to at most {need_u:.0%} of the capacity, or pre-scale min_replicas",
                severity="warning",
            )
        rate = scale_up_rate_per_minute(spec)
        if rate < spec.traffic.ramp.percent_per_minute:
            diag(
                ("spec", "autoscaling", "scale_up"),
                "scale-up-too-slow",
                f"{nid}: the autoscaler adds at most {rate:g}% of the fleet per minute, the traffic grows "
                f"{spec.traffic.ramp.percent_per_minute:g}%/min",
                "raise scale_up.max_percent_per_period or shorten scale_up.period",
                severity="warning",
            )
    out.extend(_pools(graph, sized))
    return out


def _pools(graph: LineageGraph, sized: dict[NodeId, tuple[Sizing | None, Binding]]) -> list[Diagnostic]:
    """Each stack's pools hold its endpoints at max_replicas, plus the largest canary beside a full stable."""
    demand: dict[tuple[str, str], list[tuple[NodeId, int, int]]] = {}
    for node in graph.iter_kind("Endpoint"):
        g = node.spec_field("resources", "gpus_per_replica")
        s, _ = sized.get(node.id, (None, None))
        canary = s.canary_extra * g if s is not None else 0
        demand.setdefault((node.spec_field("stack"), node.spec_field("resources", "accelerator")), []).append(
            (node.id, node.spec_field("autoscaling", "max_replicas") * g, canary)
        )
    out = []
    for (stack_name, accel), users in sorted(demand.items()):
        stack = graph.nodes.get(NodeId("stack", stack_name))
        if stack is None or not stack.spec["gpu_pools"]:
            continue  # the local stack (or a stack without declared pools) has no GPU budget to check
        pools = [p for p in stack.spec["gpu_pools"] if p["accelerator"] == accel]
        have = sum(p["gpus_per_node"] * p["max_nodes"] for p in pools)
        at_max = sum(g for _, g, _ in users)
        canary = max((c for _, _, c in users), default=0)
        if at_max + canary <= have:
            continue
        names = ", ".join(f"{u} ({g})" for u, g, _ in users)
        first = users[0][0]
        loc, snippet, width = graph.specs.locate(graph.nodes[first], ("spec", "autoscaling", "max_replicas"))
        extra = f" and {canary} more for a canary beside a full stable revision" if canary else ""
        per_node = max(p["gpus_per_node"] for p in pools) if pools else 1
        out.append(
            Diagnostic(
                "gpu-capacity",
                f"stack/{stack_name} has {have} {accel} GPUs at most, but its endpoints may need {at_max}: {names}"
                + extra,
                loc,
                f"add or grow a {accel} pool in stack/{stack_name} to at least "
                f"{math.ceil((at_max + canary) / per_node)} nodes (max_nodes), or lower max_replicas",
                snippet,
                width,
            )
        )
    return out


def in_flight_targets(graph: LineageGraph) -> dict[NodeId, int]:
    """The in-flight target per replica the autoscaler scales at, for endpoints that scale on concurrency
    without declaring a target: from a fresh profile, the in-flight requests at the declared per-replica rate
    (or at the measured capacity), so the measured latency, not half the SLO, turns a rate into requests in
    flight."""
    out: dict[NodeId, int] = {}
    if not any(True for _ in graph.iter_kind("Endpoint")):
        return out
    profiles = profiles_of(graph)
    for nid, (_, binding) in sizings(graph, profiles).items():
        endpoint = graph.nodes[nid].model
        assert isinstance(endpoint, Endpoint)
        a, cap = endpoint.spec.autoscaling, endpoint.spec.capacity
        if a.metric != "concurrency" or a.target or cap.target_concurrency_per_replica:
            continue
        p = binding.profile
        if p is not None and not binding.stale:
            rate = cap.target_qps_per_replica or p.capacity.qps_per_replica
            out[nid] = max(1, math.ceil(p.capacity.in_flight_per_replica * rate / p.capacity.qps_per_replica))
        elif cap.target_qps_per_replica and _local(graph, endpoint):
            out[nid] = simulator_in_flight(endpoint.spec, cap.target_qps_per_replica)
    return out


def simulator_in_flight(spec: EndpointSpec, rate: float) -> int:
    """In flight per replica at ``rate`` on the local stack, whose latency is the simulator's declared model
    (Little's law with the model's latency at that load, solved as a fixed point): the declared capacity, not
    half the SLO, is what the local autoscaler scales at. Half the SLO made the quickstart, whose simulator
    answers in ~120 ms, hold 10 in flight per replica: 3x its declared load never scaled out."""
    from modelplane.compiler.capacity.simulation import LatencyModel

    sim = spec.engine.simulator
    seqs = spec.engine.args.max_num_seqs or SIMULATOR_MAX_NUM_SEQS
    model = LatencyModel.simulator(sim.ttft_ms, sim.tpot_ms, seqs, spec.traffic.output_tokens)
    in_flight = rate * model.service_s(0)
    for _ in range(20):  # the latency grows with the batch; a few rounds settle it (capped at a full batch)
        in_flight = rate * model.service_s(min(seqs, round(in_flight)))
    return max(1, math.ceil(in_flight))
