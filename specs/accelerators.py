"""Catalog of GPU accelerators: memory per device, for the GPU-fit check and capacity reports."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from pydantic import BeforeValidator, StringConstraints


class Accelerator(NamedTuple):
    name: str
    memory_gib: float
    vendor: str


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        Accelerator("B200", 180, "nvidia"),
        Accelerator("H200", 141, "nvidia"),
        Accelerator("H100", 80, "nvidia"),
        Accelerator("A100", 80, "nvidia"),
        Accelerator("A100-40GB", 40, "nvidia"),
        Accelerator("L40S", 48, "nvidia"),
        Accelerator("L4", 24, "nvidia"),
        Accelerator("A10G", 24, "nvidia"),
        Accelerator("T4", 16, "nvidia"),
        Accelerator("MI300X", 192, "amd"),
    )
}

WEIGHT_SHARE = 0.9
"""Weights must fit in this share of GPU memory; the rest is activations and KV cache at minimum."""


_BY_LOWER = {name.lower(): name for name in ACCELERATORS}


def _canonical(value: object) -> object:
    """Accelerator names match in any case (`l4`, `h100`) and are kept as the catalog writes them; an
    unknown one is kept as written for the graph rule that names the closest (``unknown-accelerator``)."""
    return _BY_LOWER.get(value.lower(), value) if isinstance(value, str) else value


AcceleratorName = Annotated[str, BeforeValidator(_canonical), StringConstraints(min_length=1)]
