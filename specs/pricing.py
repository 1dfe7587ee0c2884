"""Prices of GPU instances as data: the package's table (compiler/capacity/prices.json) and a project's own rows.

Every price carries where it came from and when, because the same instance is quoted
several ways at once (p5.48xlarge: $55.04/h in the providers' price API, $98.32 on pages
written before a price cut): a cost without its source cannot be checked.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field

from modelplane.specs.accelerators import AcceleratorName
from modelplane.specs.base import StrictModel

Provider = Literal["aws", "gcp", "azure", "kubernetes"]
Term = Literal["on-demand", "spot", "1-year", "3-year", "capacity-block"]


class PriceRow(StrictModel):
    """One price: an instance type (or, with no instance type, one GPU of an accelerator) in a region."""

    provider: Provider = Field(description="Whose price: `aws`, `gcp`, `azure`, or `kubernetes` (your own cluster).")
    instance_type: str | None = Field(
        default=None, description="The instance type (`p5.48xlarge`); none for a price per GPU of `accelerator`."
    )
    accelerator: AcceleratorName = Field(description="The GPU the instance carries, e.g. `H100`.")
    gpus: Annotated[int, Field(ge=1)] = Field(default=1, description="GPUs per instance.")
    region: str | None = Field(default=None, description="Region the price is for; none: any region.")
    term: Term = Field(default="on-demand", description="Purchase term.")
    usd_per_hour: Annotated[float, Field(gt=0, lt=1_000_000)] = Field(description="US dollars per instance-hour.")
    source: Annotated[str, Field(min_length=1)] = Field(description="Where the figure comes from (a URL, a contract).")
    as_of: datetime.date = Field(description="When the figure was read (YYYY-MM-DD).")

    @property
    def per_gpu_hour(self) -> float:
        return self.usd_per_hour / self.gpus


class Pricing(StrictModel):
    """Prices used for cost in `plan`: the project's rows first, then the package's table."""

    prices: list[PriceRow] = Field(default_factory=list, description="Your own prices; they win over the table's.")
    term: Term = Field(default="on-demand", description="The term costs are computed at.")
    max_age_days: Annotated[int, Field(ge=1)] = Field(
        default=180, description="A price older than this many days gets a note in the plan."
    )
