"""Shared building blocks of every spec document: strict base model, metadata, node ids."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from modelplane.specs.kinds import registry

API_VERSION = "modelplane/v1"

KIND_ORDER = registry.names()
"""The built-in kinds in the order data flows through them (reports list kinds in this order); the registry
(``specs/kinds/``) is where kinds are declared."""

KIND_MODULES = {
    e.name: e.model_ref.removeprefix("modelplane.specs.").partition(":")[0]
    for e in registry.entries()
    if isinstance(e.model_ref, str)
}
"""Each built-in kind's model module in ``specs/`` (``specs/__init__`` imports them lazily)."""


def model_class(kind: str) -> type[BaseModel]:
    """The model of one kind, importing only its module (a warm run may need just one or two)."""
    return registry.get(kind).model


T = TypeVar("T")


def shared(make: Callable[[], T]) -> Callable[[], T]:
    """A ``default_factory`` for a field whose default is a model (or a tuple of them): the default is built (and
    validated) once, on first use, and every document leaving the field out shares it. Building a fresh one per
    document ran its validation again (an endpoint written with few fields built a dozen defaults: ~5% of
    validating a 10,000-node project). Spec models are frozen, so no field of the shared one can be set; its lists
    and maps are shared as well, so no code may change a spec's containers in place (none does: the renderers
    and the runtime copy them before adding to them)."""
    return cache(make)


def Bounded(hint: str, **bounds: Any) -> Any:  # named like the Field it returns
    """A number's bounds (``ge``, ``lt``...) with the hint a wrong value gets (validate reads
    ``json_schema_extra["hint"]``; the JSON schema shows it too)."""
    return Field(**bounds, json_schema_extra={"hint": hint})


def at_most(low: str, high: str) -> Any:
    """A model validator: field ``low`` may not be above field ``high`` (a pool's or an autoscaler's
    ``min_*``/``max_*``). Assign it in the class body: ``_bounds = at_most("min_nodes", "max_nodes")``."""

    def check(model: BaseModel) -> BaseModel:
        below, above = getattr(model, low), getattr(model, high)
        if below > above:
            raise ValueError(f"{low} ({below}) is above {high} ({above})")
        return model

    return model_validator(mode="after")(check)


NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""A node name: lower-case DNS label, so it can become a Kubernetes, Pulumi and Temporal id."""

LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_./-]{0,62})$")]


def _in_key_order(value: Any) -> Any:
    """A free-form map (and the maps inside it) in key order: the order a map is written in means
    nothing, so the normalized document, its JSON and its hashes must not depend on it."""
    if isinstance(value, dict):
        if len(value) < 2 and not any(isinstance(v, dict | list) for v in value.values()):
            return value  # the common case (no or one label), without sorting
        return {k: _in_key_order(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_in_key_order(v) for v in value]
    return value


InKeyOrder = AfterValidator(_in_key_order)
"""On every free-form map of a spec (``labels``, ``extra_args``, ``settings``)."""


class StrictModel(BaseModel):
    """Base of every spec model: unknown fields are errors, values are immutable.

    Infinite and NaN numbers are rejected: a normalized document is plain JSON,
    which has no way to write them (they would come back as null).
    """

    # defer_build: a model builds its validator and serializer on first use; nested models are
    # validated through their kind's (or the spec union's) and never need their own (~40 ms per run)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False, defer_build=True)


@cache  # building is done once per class: a second call for the same models need not walk their fields again
def build_in_order(*roots: type[BaseModel]) -> None:
    """Build these models, and every model their fields hold, each once: the fields' models first.

    A model that defers building (``StrictModel``) and is first built as a field of another has its schema
    generated inside that one; a later use of its own (a default its ``default_factory`` makes, a plan action
    validated alone) generates it again. Built first, a model is generated once and every model holding it takes
    its schema as it is (a cold plan built ~30 models twice: ~0.4% of it).
    """
    seen: set[type[BaseModel]] = set()
    order: list[type[BaseModel]] = []

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for info in cls.model_fields.values():
            for held in _models_in(info.annotation):
                visit(held)
        order.append(cls)

    for root in roots:
        visit(root)
    for cls in order:
        if not cls.__pydantic_complete__:
            cls.model_rebuild()


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's type names (``list[Column]``, ``Capacity | None``, ``dict[str, Step]``)."""
    if isinstance(annotation, type):
        return [annotation] if issubclass(annotation, BaseModel) else []
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def normalize(model: BaseModel) -> dict[str, Any]:
    """The one normalized form of a validated document: every default filled in, every
    value as its field's type, keys as written in YAML (aliases), plain JSON types.

    This is what the compiler keeps for every node and what fingerprints, diffs,
    the state and the caches hold, so writing a default out explicitly changes
    nothing. Nothing is left out (no ``exclude_none``): a field whose default is
    not None but was set to null (``slow_start: null``) must stay null. The
    model's serializer is called directly: it is ~2.5x faster than ``model_dump``.
    """
    dumped: dict[str, Any] = model.__pydantic_serializer__.to_python(model, mode="json", by_alias=True)
    return dumped


def normalized_json(model: BaseModel) -> bytes:
    """``normalize(model)`` as JSON, straight from the model's serializer: what the loader keeps
    (``orjson.loads`` of it is the normalized value) and the caches store. Serializing to JSON
    and parsing that back costs about two thirds of ``normalize`` followed by ``orjson.dumps``."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


BOOL_TRUE = ("true", "yes", "on")
BOOL_FALSE = ("false", "no", "off")
BOOL_SPELLINGS_HINT = "write true or false (yes/no and on/off are read as booleans too, in any case)"


def _as_bool(value: object) -> object:
    """YAML 1.2 (what the loader parses) reads only true/false as booleans; YAML 1.1 and
    people also write yes/no/on/off. Those are read as booleans here, in any case;
    anything else (y, 1, "maybe") is rejected rather than guessed or passed on as truthy text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.lower()
        if low in BOOL_TRUE:
            return True
        if low in BOOL_FALSE:
            return False
    raise PydanticCustomError("bool_spelling", "expected true or false, got {value}", {"value": repr(value)})


BoolSpelling = Annotated[
    str,
    StringConstraints(pattern=r"^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])$"),
]
"""The spellings ``Bool`` accepts besides true/false, for the JSON Schema editors use."""

Bool = Annotated[
    Union[StrictBool, Annotated[bool, BeforeValidator(_as_bool, json_schema_input_type=BoolSpelling)]],  # noqa: UP007
    Field(union_mode="left_to_right"),
]
"""Every boolean field of every spec (and of modelplane.yaml): true/false/yes/no/on/off in any case.

FAST_FIRST: each forgiving type of the specs is a union tried left to right, the strict
spelling first: most values are written canonically and pass in pydantic's Rust core, and
only the others pay for the Python validator that reads them (a quarter of validation time
at 10,000 nodes otherwise)."""


class Metadata(StrictModel):
    """Who owns a node and how people find it."""

    name: Name = Field(
        description="The node's name, unique per kind: a lower-case DNS label (`[a-z0-9][a-z0-9-]{0,62}`), so it "
        "can name Kubernetes, Pulumi and Temporal objects too. Other specs refer to the node by it."
    )
    owner: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Team or person told when this node is affected by a change."
    )
    description: str = Field(default="", description="What the node is, for people (a metadata-only change).")
    labels: Annotated[dict[LabelKey, str], InKeyOrder] = Field(
        default_factory=dict,
        description="Free `key: value` pairs; selectors pick nodes by them (`label:tier=0`). Metadata only.",
    )


class NodeId(NamedTuple):
    """Identity of a node: ``kind/name`` with the kind in lower case (``model/grammar-llm``)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> NodeId:
        kind, name = split_id(text, "/", "kind/name")
        return tuple.__new__(cls, (kind.lower(), name))  # in C: a NamedTuple's own __new__ is a Python function


_KIND_KEYS: dict[str, str] = {}


def kind_key(kind: str) -> str:
    """``kind`` as node ids hold it, in lower case, one string object per kind: hashing a NodeId reads its
    strings, and 10,000 ids sharing one kind string read it from the cache instead of each its own copy."""
    key = _KIND_KEYS.get(kind)
    if key is None:
        key = _KIND_KEYS[kind] = sys.intern(kind.lower())
    return key


def split_id(text: str, sep: str, form: str) -> tuple[str, str]:
    """``text`` cut at its first ``sep`` into two non-empty parts; a ``ValueError`` showing ``form`` otherwise.

    Node ids (``kind/name``) and action ids (``type:target``) are both read through it.
    """
    head, found, tail = text.partition(sep)
    if not found or not head or not tail:
        raise ValueError(f"expected `{form}`, got {text!r}")
    return head, tail


ApiVersion = Literal["modelplane/v1"]

# The four top-level fields every kind has, described once (each kind's class uses these in its fields).
API_VERSION_DOC = "The spec format's version: always `modelplane/v1`."
KIND_DOC = "The kind of node this document declares; it decides what `spec` may hold."
METADATA_DOC = "The node's name, owner, description and labels (the same for every kind)."
