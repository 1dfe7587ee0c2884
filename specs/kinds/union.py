"""The discriminated union the loader validates documents against, built from the registered kinds.

``AnySpec``/``SPEC_ADAPTER`` are the built-in kinds (typed, for mypy and the JSON Schema); ``spec_adapter()`` and
``kind_models()`` follow the registry, so a kind registered later (a test's toy kind) is validated too.
Importing this module builds every built-in model (~0.1 s): only the loader's parse path and schema need it.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, TypeAdapter

from modelplane.specs.base import build_in_order
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


def _build_each(models: Any) -> None:
    """Build each kind's own validator and serializer (and its fields' models', first) before the union over them.

    The models defer building (``StrictModel``): a union built first generates every kind's
    schema for itself, and each kind then generates it again on its first direct use (a
    document serialized, a cached one validated). Built first, each kind's schema is made
    once and the union takes it as it is (the union then costs ~1 ms, not ~30).
    """
    build_in_order(*models)


_build_each(KIND_MODELS.values())
SPEC_ADAPTER: TypeAdapter[AnySpecModel] = TypeAdapter(AnySpec)
_registered: dict[int, tuple[dict[str, type[BaseModel]], TypeAdapter[Any]]] = {}


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
    if now not in _registered:
        models = {e.name: e.model for e in registry.entries()}
        _build_each(models.values())
        union: Any = Union[tuple(models.values())]  # noqa: UP007  # built from the registry at run time
        _registered.clear()
        _registered[now] = (models, TypeAdapter(Annotated[union, Field(discriminator="kind")]))
    return _registered[now]
