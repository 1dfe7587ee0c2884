"""The discriminated union the loader validates documents against, built from the registered kinds.

``AnySpec``/``SPEC_ADAPTER`` are the built-in kinds (typed, for mypy and the JSON Schema); ``spec_adapter()`` and
``kind_models()`` follow the registry, so a kind registered later (a test's toy kind) is validated too.
Importing this module builds every built-in model (~0.1 s): only the loader's parse path and schema need it.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, TypeAdapter

from modelplane.specs.data import Dataset, Feature, Workflow
from modelplane.specs.kinds import registry
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

SPEC_ADAPTER: TypeAdapter[AnySpecModel] = TypeAdapter(AnySpec)
_built: dict[int, tuple[dict[str, type[BaseModel]], TypeAdapter[Any]]] = {}


def kind_models() -> dict[str, type[BaseModel]]:
    """Every registered kind's model, in registry order."""
    return _current()[0]


def spec_adapter() -> TypeAdapter[Any]:
    """The union of every registered kind's model, discriminated on ``kind``."""
    return _current()[1]


def _current() -> tuple[dict[str, type[BaseModel]], TypeAdapter[Any]]:
    if registry.only_built_in():
        return dict(KIND_MODELS), SPEC_ADAPTER
    now = registry.version()
    if now not in _built:
        models = {e.name: e.model for e in registry.entries()}
        union: Any = Union[tuple(models.values())]  # noqa: UP007  # built from the registry at run time
        _built.clear()
        _built[now] = (models, TypeAdapter(Annotated[union, Field(discriminator="kind")]))
    return _built[now]
