"""What a kind module declares: one dataclass per facet, and the declaration that gathers them.

A kind module (``specs/kinds/dataset.py`` ...) fills in a ``KindDecl``; ``registry.register`` checks that
every required facet is there and stores the complete ``KindEntry`` the compiler, the runtime and the views
look kinds up in. The facets are plain data and small functions over plain data (normalized documents,
a change's type, effect and field paths), so this package needs nothing of the compiler.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from modelplane.specs.enums import EdgeKind

Category = Literal["broken", "retrain-required", "re-evaluate-required", "rollout-required", "notify", "unaffected"]
Signal = Literal["schema", "data", "model", "serving", "stale"]
SIGNALS: tuple[Signal, ...] = ("schema", "data", "model", "serving", "stale")


class FieldView(Protocol):
    @property
    def path(self) -> str: ...


class ChangeView(Protocol):
    """What a kind's impact rules read of a change (``compiler.change.diff.Change`` is one)."""

    @property
    def change(self) -> str: ...

    @property
    def effect(self) -> str: ...

    @property
    def fields(self) -> Sequence[FieldView]: ...

    @property
    def columns(self) -> object: ...


@dataclass(frozen=True)
class Rule:
    """What a signal arriving along an edge does to the node at its end."""

    category: Category
    reason: str
    """About the receiving node; ``{node}`` is its id (and ``{tier}`` its tier, for a kind with one)."""
    sends: Signal | None = None
    """The signal it passes on downstream, if any."""


def no_signals(change: ChangeView) -> list[Signal]:
    return []


def sends(signal: Signal, *, on_create: bool = False) -> Callable[[ChangeView], list[Signal]]:
    """Own signals of a kind whose every (non-metadata) change sends ``signal``; a new node sends it only with
    ``on_create`` (nothing downstream of a new node was built from it yet)."""

    def own(change: ChangeView) -> list[Signal]:
        return [signal] if on_create or change.change != "create" else []

    return own


def columnar_signals(change: ChangeView) -> list[Signal]:
    """A dataset's or feature's change: ``schema`` when its columns changed, ``data`` when anything else but
    its freshness did; a new one sends nothing."""
    if change.change == "create":
        return []
    signals: list[Signal] = []
    if change.columns:
        signals.append("schema")
    paths = {f.path for f in change.fields}
    non_column = {p for p in paths if not p.startswith(("spec.schema", "spec.columns"))}
    if non_column - {"spec.freshness"}:
        signals.append("data")
    return signals


def never(change: ChangeView) -> Category | None:
    return None


@dataclass(frozen=True)
class ImpactRules:
    """How a change to a node of this kind propagates downstream, and what arriving signals do to it."""

    own: Callable[[ChangeView], list[Signal]]
    """The signals its own (non-metadata, non-delete) change sends downstream."""
    receives: Mapping[tuple[Signal, EdgeKind | str], Rule]
    """(signal, edge it arrives along) -> what it does here; anything else leaves the node unaffected."""
    marks_itself: Callable[[ChangeView], Category | None] = never
    """The category its own (non-metadata) change puts it in, if any (an endpoint's change rolls it out)."""
    column_level: bool = False
    """A ``schema`` signal along ``reads`` breaks it only when it reads a removed or retyped column."""
    switch: str | None = None
    """A boolean spec field that, off, turns its ``retrain-required`` into ``notify`` (``retrain_on_change``)."""
    retrains: bool = False
    """A stale node of this kind retrains in the plan when a workflow producing it re-runs."""
    rolls_out_retrained: bool = False
    """A ``stale`` signal along ``serves`` from a node retrained in this plan rolls it out, not just notifies."""


def no_breaking(before: dict[str, Any], after: dict[str, Any], paths: set[str]) -> list[str]:
    return []


@dataclass(frozen=True)
class DiffRules:
    """How two versions of a node of this kind compare."""

    replace_on: tuple[str, ...] = ()
    """Field paths whose change means the old resource cannot be updated in place (it is replaced)."""
    columns: tuple[str, ...] | None = None
    """Where in ``spec`` its column list is: a removed or retyped column is breaking, and a ``schema`` signal."""
    breaking: Callable[[dict[str, Any], dict[str, Any], set[str]], list[str]] = no_breaking
    """Reasons a change (before, after, the changed spec paths) breaks what reads the node, beyond columns."""


SecretShape = Literal["value", "flags", "command", "tree"]


@dataclass(frozen=True)
class SecretField:
    """A place in ``spec`` where a ``${secret.NAME}`` may be written and where a literal credential is looked for.

    ``value``: the field itself; ``flags``: a map of flag -> value; ``command``: a command line as text or a
    list of arguments (``--flag=value``, ``--flag value``); ``tree``: any value under it, except under keys
    modelplane reads itself (the known settings). ``references: False`` is scanned for credentials only.
    """

    path: tuple[str, ...]
    shape: SecretShape
    references: bool = True


@dataclass(frozen=True)
class GraphShape:
    """How graph views draw a node of this kind."""

    dot: str
    """Graphviz node shape."""


@dataclass(frozen=True)
class LineageRole:
    """How OpenLineage sees an applied node of this kind: a dataset (``dataset_type``: FILE, TABLE, MODEL) or a
    job (``job``: processingType and jobType); its lineage are its references to kinds with a role."""

    dataset_type: str | None = None
    job: tuple[str, str] | None = None


@dataclass(frozen=True)
class PlanRules:
    """The actions a change of this kind adds to a plan (besides ``register`` for a catalog kind)."""

    on_change: tuple[str, ...] = ()
    """Action types run when a node is created, updated or replaced."""
    on_delete: tuple[str, ...] = ()
    """Action types run when it is deleted."""
    on_stack: bool = False
    """It runs on a stack: created or replaced it provisions capacity there; replaced, it leaves the old stack."""
    on_retrain: str | None = None
    """The action type a ``retrain-required`` node of this kind runs (a workflow re-runs)."""


@dataclass(frozen=True)
class Reference:
    """A field of the kind that names other nodes: the path (``[*]``: every item), which kinds, and the edge."""

    path: str
    to: tuple[str, ...]
    edge: EdgeKind | str


@dataclass(frozen=True)
class KindDecl:
    """Everything modelplane knows about one kind, as its module declares it; ``None`` is a facet not given."""

    name: str
    model: str | type[BaseModel] | None = None
    """The pydantic model, or where it is (``modelplane.specs.data:Dataset``: imported on first use)."""
    references: tuple[Reference, ...] | None = None
    """Its reference fields (the model declares them with ``RefTo``; the registry checks the two agree)."""
    impact: ImpactRules | None = None
    diff: DiffRules | None = None
    catalog: bool | None = None
    """Registered in the catalog when it changes."""
    secrets: tuple[SecretField, ...] | None = None
    graph: GraphShape | None = None
    plan: PlanRules = field(default_factory=PlanRules)
    tier: str | None = None
    """The spec field holding a tier owners are told by (a service's)."""
    lineage: LineageRole | None = None
    """Its OpenLineage role; None: no events (a stack)."""


REQUIRED = ("model", "references", "impact", "diff", "catalog", "secrets", "graph")
"""The facets every kind must declare (an empty tuple is a declaration: no references, no secret fields)."""


@dataclass(frozen=True)
class KindEntry:
    """A registered kind: every facet is there."""

    name: str
    model_ref: str | type[BaseModel]
    references: tuple[Reference, ...]
    impact: ImpactRules
    diff: DiffRules
    catalog: bool
    secrets: tuple[SecretField, ...]
    graph: GraphShape
    plan: PlanRules
    tier: str | None
    lineage: LineageRole | None

    @property
    def id_kind(self) -> str:
        """The kind as node ids write it (``dataset/raw-events``)."""
        return self.name.lower()

    @cached_property
    def model(self) -> type[BaseModel]:
        if not isinstance(self.model_ref, str):
            return self.model_ref
        module, _, name = self.model_ref.partition(":")
        cls: type[BaseModel] = getattr(importlib.import_module(module), name)
        return cls

    def columns_of(self, spec: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """Its column list in a normalized ``spec``, for a kind with columns."""
        if self.diff.columns is None:
            return None
        node: Any = spec
        for key in self.diff.columns:
            node = node[key]
        cols: list[dict[str, Any]] = node
        return cols
