"""The plan's capacity section: every endpoint's replicas, GPUs and monthly cost, head and base side by side."""

from __future__ import annotations

import datetime
import os

from modelplane.compiler.capacity.sizing import Sizing
from modelplane.compiler.capacity.stage import Profiles, sizings
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.plan.model import CapacityFigures, CapacityLine


def _figures(s: Sizing) -> CapacityFigures:
    priced = s.price is not None
    return CapacityFigures(
        min_replicas=s.min_replicas,
        max_replicas=s.max_replicas,
        steady_replicas=s.steady,
        gpus_min=s.gpus(s.min_replicas),
        gpus_steady=s.gpus(s.steady),
        gpus_max=s.gpus(s.max_replicas),
        usd_month_min=round(s.cost(s.min_replicas), 2) if priced else None,
        usd_month_steady=round(s.cost(s.steady), 2) if priced else None,
        usd_month_max=round(s.cost(s.max_replicas), 2) if priced else None,
    )


def capacity_lines(
    head: LineageGraph,
    head_profiles: Profiles,
    base: LineageGraph | None = None,
    base_profiles: Profiles | None = None,
) -> list[CapacityLine]:
    """One line per endpoint of ``head`` that can be sized, with the base's figures beside."""
    before = sizings(base, base_profiles or Profiles()) if base is not None else {}
    max_age = head.specs.project.pricing.max_age_days
    out = []
    for nid, (s, binding) in sizings(head, head_profiles).items():
        if s is None:
            continue
        b, _ = before.get(nid, (None, None))
        node = head.nodes[nid]
        out.append(
            CapacityLine(
                endpoint=str(nid),
                stack=node.spec["stack"],
                accelerator=s.accelerator,
                gpus_per_replica=s.gpus_per_replica,
                peak_qps=s.peak_qps,
                qps_per_replica=s.source.qps_per_replica,
                capacity_source=s.source.what,
                profile=binding.path if binding.profile is not None else None,
                stale=list(binding.stale),
                utilisation=round(s.utilisation, 4),
                within_slo_replicas=s.within_slo,
                profile_replicas=s.profile_replicas if s.simulated else None,
                zones=s.zones,
                needed_replicas=s.needed,
                canary_replicas=s.canary_extra,
                figures=_figures(s),
                before=_figures(b) if b is not None else None,
                price=s.price.describe() if s.price is not None else None,
                price_as_of=s.price.row.as_of.isoformat() if s.price is not None else None,
                price_max_age_days=max_age,
            )
        )
    return out


def today() -> datetime.date:
    """The date price ages are measured at: MODELPLANE_TODAY (YYYY-MM-DD, for reproducible reports) or today."""
    fixed = os.environ.get("MODELPLANE_TODAY")
    return datetime.date.fromisoformat(fixed) if fixed else datetime.date.today()


def price_note(line: CapacityLine, on: datetime.date | None = None) -> str | None:
    """A note for a price older than the project allows, else None."""
    if line.price_as_of is None:
        return None
    age = ((on or today()) - datetime.date.fromisoformat(line.price_as_of)).days
    if age <= line.price_max_age_days:
        return None
    return (
        f"the price of {line.endpoint} is from {line.price_as_of}, {age} days old (over {line.price_max_age_days}): "
        "check it, or set your own under `pricing.prices` in modelplane.yaml"
    )


def shown(lines: list[CapacityLine]) -> list[CapacityLine]:
    """The lines a report shows: endpoints whose figures change, are new, or whose profile is stale."""
    return [c for c in lines if c.changed or c.stale]


def money(usd: float | None) -> str:
    if usd is None:
        return "n/a"
    return f"${usd:,.0f}"


def signed_money(usd: float) -> str:
    return f"{'+' if usd >= 0 else '-'}${abs(usd):,.0f}"


def headline(c: CapacityLine) -> str:
    """``endpoint/x: +34 H100, +$168,000/month at the peak`` (or its figures when it is new)."""
    f, b = c.figures, c.before
    gpus = f"{f.gpus_steady} {c.accelerator}"
    if b is None:
        cost = f", {money(f.usd_month_steady)}/month" if f.usd_month_steady is not None else ""
        return f"{c.endpoint}: new, {gpus} at the peak{cost}"
    dg = f.gpus_steady - b.gpus_steady
    out = f"{c.endpoint}: {dg:+d} {c.accelerator} at the peak ({b.gpus_steady} -> {f.gpus_steady})"
    if f.usd_month_steady is not None and b.usd_month_steady is not None:
        out += f", {signed_money(f.usd_month_steady - b.usd_month_steady)}/month"
    return out


def details(c: CapacityLine) -> list[str]:
    """The figures behind a headline, one fact a line."""
    f = c.figures
    out = [
        f"{c.peak_qps:,.0f} req/s at {c.qps_per_replica:g} req/s per replica: {c.within_slo_replicas} replicas "
        f"within the SLO, {f.steady_replicas} at {c.utilisation:.0%} target utilisation"
        + (f", {c.needed_replicas} with one of {c.zones} zones lost" if c.zones else ""),
        f"replicas min {f.min_replicas} / max {f.max_replicas}"
        + (f" (needs {c.needed_replicas})" if f.max_replicas < c.needed_replicas else "")
        + (f"; a canary adds {c.canary_replicas} beside a full stable" if c.canary_replicas else ""),
        f"capacity: {c.capacity_source}",
    ]
    if c.profile_replicas is not None:
        out.insert(
            1,
            f"fleet simulation (power of two choices, calibrated on the profile's latency curve): "
            f"{c.within_slo_replicas} replicas hold the p99 SLO; the per-replica capacity alone says "
            f"{c.profile_replicas}",
        )
    if f.usd_month_steady is not None:
        out.append(
            f"cost per month: {money(f.usd_month_min)} at min, {money(f.usd_month_steady)} at the peak, "
            f"{money(f.usd_month_max)} at max; price: {c.price}"
        )
    if c.stale:
        out.append(f"stale profile {c.profile or ''}: {'; '.join(c.stale)}".replace("  ", " "))
    note = price_note(c)
    if note:
        out.append(note)
    return out
