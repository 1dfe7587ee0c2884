"""Platform kinds: the services that consume ML assets and the stacks endpoints run on."""

from __future__ import annotations

from typing import Annotated, Any, Literal

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
    Name,
    StrictModel,
    at_most,
    shared,
)
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
    ] = Field(
        description="What the service reads, as `kind/name` (endpoints, models, features, datasets): at least one; "
        "a change to any of them notifies its owner, with its tier."
    )
    tier: Annotated[
        int,
        Bounded(
            "a tier is 0 (most critical), 1, 2 or 3 (least critical)", ge=0, le=3, description="0 is the most critical."
        ),
    ]
    contact: str | None = Field(
        default=None, description="Where to reach the service's people (a channel, an address), shown with its notices."
    )


class Service(StrictModel):
    """A downstream consumer (a product feature); impact ends here and owners are told."""

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Service"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: ServiceSpec = Field(description="The service: what it consumes and how critical it is.")


class GpuPool(StrictModel):
    name: Name = Field(
        description="The pool's name, unique in the stack; the node selector label endpoints are placed with."
    )
    accelerator: AcceleratorName = Field(
        description="The GPU model of the pool's nodes (`H100`, `L4`, `A100-80GB`...; any case), from the accelerator catalog."
    )
    gpus_per_node: Annotated[int, Field(ge=1)] = Field(description="GPUs on each node of the pool.")
    min_nodes: Annotated[int, Field(ge=0)] = Field(default=0, description="The fewest nodes the pool keeps.")
    max_nodes: Annotated[int, Field(ge=1)] = Field(
        description="The most nodes the pool may grow to; sizing checks that endpoints fit in it."
    )
    instance_type: str | None = Field(
        default=None,
        description="The cloud instance type (`p5.48xlarge`); unset: the one known for the accelerator and GPUs per node. Prices are looked up by it.",
    )
    spot: Bool = Field(default=False, description="Whether the nodes are spot (preemptible) instances.")
    provisioning: Duration = Field(
        default="3m",
        description="From a scale-up decision to a node of this pool whose GPUs are allocatable (Karpenter and "
        "cluster-autoscaler take 1-3 minutes, more when capacity is short).",
    )

    _bounds = at_most("min_nodes", "max_nodes")


class PulumiSettings(StrictModel):
    stack: str | None = Field(default=None, description="The Pulumi stack name; default `<stack name>-<environment>`.")
    backend_url: str | None = Field(
        default=None,
        description="Where Pulumi keeps its state (`s3://...`, `file://...`); default a file backend under `.modelplane/pulumi/`.",
    )


class StackSpec(StrictModel):
    provider: Literal["local", "kubernetes", "aws-eks", "gcp-gke"] = Field(
        description="Where endpoints run: `local` (processes on this machine) or a Kubernetes cluster through Pulumi (`kubernetes`, `aws-eks`, `gcp-gke`)."
    )
    region: str | None = Field(default=None, description="The cloud region; required for `aws-eks` and `gcp-gke`.")
    namespace: str = Field(default="modelplane", description="The Kubernetes namespace endpoints are deployed in.")
    gpu_pools: list[GpuPool] = Field(
        default_factory=list,
        description="The GPU node pools of the cluster (names unique); endpoints are placed on a pool of their accelerator.",
    )
    pulumi: PulumiSettings = Field(
        default_factory=shared(PulumiSettings),
        description="The Pulumi stack name and state backend, for the Kubernetes providers.",
    )
    settings: Annotated[dict[str, Any], InKeyOrder] = Field(
        default_factory=dict,
        description="Provider settings other tools read (`prometheus_url`, `autoscaler: keda`, `cluster_name`...); may hold `${secret.NAME}`, recorded as written.",
    )

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

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Stack"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: StackSpec = Field(description="The stack: its provider, region, namespace and GPU pools.")
