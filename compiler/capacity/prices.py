"""What a GPU costs where an endpoint runs: the project's prices first, then the package's table.

A stack's pool names its instance type; the price of that instance in the stack's region is
used as it is, per node, since replicas are packed onto whole nodes. Failing that, the
per-GPU rate of the same accelerator from the same provider is used and the plan says so
(an estimate, with the row it came from). The local stack costs nothing.
"""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass
from importlib import resources

from modelplane.specs.pricing import PriceRow, Pricing
from modelplane.specs.providers import registry as providers

HOURS_PER_MONTH = 730
"""Hours in an average month (8,760 / 12), as cloud price calculators count."""

_PROVIDER = {p: d.prices_as for p in providers.names() if (d := providers.get(p)).prices_as is not None}
"""A stack provider -> the provider its prices are listed under (each provider says so in specs/providers/)."""


@functools.cache
def table() -> tuple[PriceRow, ...]:
    """The package's price table (compiler/capacity/prices.json)."""
    raw = json.loads(resources.files(__package__).joinpath("prices.json").read_text())
    return tuple(PriceRow.model_validate(r) for r in raw["prices"])


@dataclass(frozen=True)
class Price:
    """The price an endpoint's replicas are costed at."""

    per_gpu_hour: float
    row: PriceRow
    estimated: bool
    """True when the instance itself has no price and the accelerator's per-GPU rate stands in."""

    def describe(self) -> str:
        what = self.row.instance_type or f"1 {self.row.accelerator}"
        est = "estimated from " if self.estimated else ""
        return f"{est}{what} {self.row.region or 'any region'} ${self.row.usd_per_hour:g}/h ({self.row.source}, {self.row.as_of})"

    def age_days(self, today: datetime.date) -> int:
        return (today - self.row.as_of).days


def price_for(
    provider: str, region: str | None, accelerator: str, instance_type: str | None, pricing: Pricing
) -> Price | None:
    """The price of one GPU-hour of ``accelerator`` on a stack, or None where nothing is known (and local)."""
    cloud = _PROVIDER.get(provider)
    if cloud is None:
        return None
    rows = [r for r in (*pricing.prices, *table()) if r.provider == cloud and r.term == pricing.term]
    if instance_type:
        exact = [r for r in rows if r.instance_type == instance_type]
        for r in sorted(exact, key=lambda r: r.region != region):  # the stack's region first
            if r.region in (region, None) or not any(x.region in (region, None) for x in exact):
                return Price(r.per_gpu_hour, r, estimated=r.region not in (region, None))
    same = [r for r in rows if r.accelerator == accelerator]
    if not same:
        return None
    best = min(same, key=lambda r: (r.region not in (region, None), r.per_gpu_hour))
    return Price(best.per_gpu_hour, best, estimated=bool(instance_type) or best.region not in (region, None))


def monthly(gpus: int, price: Price | None) -> float:
    return 0.0 if price is None else gpus * price.per_gpu_hour * HOURS_PER_MONTH
