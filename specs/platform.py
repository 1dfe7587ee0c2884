"""Platform kinds: the services that consume ML assets and the stacks endpoints run on."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from modelplane.specs.accelerators import AcceleratorName
from modelplane.specs.base import ApiVersion, Bool, Bounded, InKeyOrder, Metadata, Name, StrictModel, at_most
from modelplane.specs.common import QUALIFIED_REF_PATTERN, Duration
from modelplane.specs.refs import RefTo


class ServiceSpec(StrictModel):
    consumes: Annotated[
        list[
            Annotated[
                Annotated[str, StringConstraints(pattern=QUALIFIED_REF_PATTERN)],
                RefTo(("endpoint", "model", "feature", "dataset"), edge="consumes", qualified=True),
            ]
        ],
        Field(min_length=1),
    ]
    tier: Annotated[
        int,
        Bounded(
            "a tier is 0 (most critical), 1, 2 or 3 (least critical)", ge=0, le=3, description="0 is the most critical."
        ),
    ]
    contact: str | None = None


class Service(StrictModel):
    """A downstream consumer (a product feature); impact ends here and owners are told."""

    apiVersion: ApiVersion
    kind: Literal["Service"]
    metadata: Metadata
    spec: ServiceSpec


class GpuPool(StrictModel):
    name: Name
    accelerator: AcceleratorName
    gpus_per_node: Annotated[int, Field(ge=1)]
    min_nodes: Annotated[int, Field(ge=0)] = 0
    max_nodes: Annotated[int, Field(ge=1)]
    instance_type: str | None = None
    spot: Bool = False
    provisioning: Duration = Field(
        default="3m",
        description="From a scale-up decision to a node of this pool whose GPUs are allocatable (Karpenter and "
        "cluster-autoscaler take 1-3 minutes, more when capacity is short).",
    )

    _bounds = at_most("min_nodes", "max_nodes")


class PulumiSettings(StrictModel):
    stack: str | None = None
    backend_url: str | None = None


class StackSpec(StrictModel):
    provider: Literal["local", "kubernetes", "aws-eks", "gcp-gke"]
    region: str | None = None
    namespace: str = "modelplane"
    gpu_pools: list[GpuPool] = Field(default_factory=list)
    pulumi: PulumiSettings = Field(default_factory=PulumiSettings)
    settings: Annotated[dict[str, Any], InKeyOrder] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cloud_needs_region(self) -> StackSpec:
        if self.provider in ("aws-eks", "gcp-gke") and not self.region:
            raise ValueError(f"provider {self.provider} needs a `region`")
        names = [p.name for p in self.gpu_pools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"gpu pool names must be unique; repeated: {', '.join(dupes)}")
        return self


class Stack(StrictModel):
    """Where endpoints run: a local process stack or a Kubernetes GPU cluster."""

    apiVersion: ApiVersion
    kind: Literal["Stack"]
    metadata: Metadata
    spec: StackSpec
