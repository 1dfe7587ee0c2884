"""The registry of kinds and the discriminated union the loader validates against."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from modelplane.specs.base import KIND_ORDER
from modelplane.specs.data import Dataset, Feature, Workflow
from modelplane.specs.models import Evaluation, Model
from modelplane.specs.platform import Service, Stack
from modelplane.specs.serving import Endpoint

AnySpec = Annotated[
    Union[Dataset, Feature, Workflow, Model, Evaluation, Endpoint, Service, Stack],  # noqa: UP007
    Field(discriminator="kind"),
]
AnySpecModel = Dataset | Feature | Workflow | Model | Evaluation | Endpoint | Service | Stack

# Order is the order of the data flow; reports list kinds in this order.
KIND_MODELS: dict[str, type[AnySpecModel]] = {
    "Dataset": Dataset,
    "Feature": Feature,
    "Workflow": Workflow,
    "Model": Model,
    "Evaluation": Evaluation,
    "Stack": Stack,
    "Endpoint": Endpoint,
    "Service": Service,
}
KINDS = tuple(KIND_MODELS)
assert KINDS == KIND_ORDER

SPEC_ADAPTER: TypeAdapter[AnySpecModel] = TypeAdapter(AnySpec)
