"""The registry of kinds: every kind's module, looked up by name (``Dataset``) or by its id kind (``dataset``).

A kind is one module that fills in a ``KindDecl`` (see ``facets``) and one ``register`` call (the built-in
kinds are registered below, in data-flow order, which is the order reports list kinds in). ``register``
refuses a kind that lacks a facet, naming each one missing, so a new kind cannot silently leave its
downstream nodes "unaffected". Importing this module is cheap: the kinds' pydantic models are imported
on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from modelplane.specs.enums import EdgeKind
from modelplane.specs.kinds.dataset import DATASET
from modelplane.specs.kinds.endpoint import ENDPOINT
from modelplane.specs.kinds.evaluation import EVALUATION
from modelplane.specs.kinds.facets import REQUIRED, KindDecl, KindEntry, Reference, Rule, Signal
from modelplane.specs.kinds.feature import FEATURE
from modelplane.specs.kinds.model import MODEL
from modelplane.specs.kinds.service import SERVICE
from modelplane.specs.kinds.stack import STACK
from modelplane.specs.kinds.workflow import WORKFLOW

DOWNSTREAM_EDGES = frozenset({EdgeKind.OUTPUT.value})
"""Edges a kind declares whose data flows out of it (a workflow's outputs): its targets receive along them."""


class IncompleteKind(ValueError):
    """A kind registered without every facet (or with facets that disagree with its model)."""


_KINDS: dict[str, KindEntry] = {}
_BY_ID: dict[str, KindEntry] = {}
_version = [0]
"""Bumped on every change, so what is built from the registry (the spec union) knows when to rebuild."""


def missing(decl: KindDecl) -> list[str]:
    """The required facets ``decl`` does not declare, by name."""
    return [f for f in REQUIRED if getattr(decl, f) is None]


def problems(decl: KindDecl) -> list[str]:
    """Everything wrong with ``decl``: each missing facet, and references its model declares differently."""
    out = [f"{decl.name}: no `{f}` facet" for f in missing(decl)]
    if out:
        return out
    assert decl.impact is not None and decl.references is not None
    # a reference it declares upstream is an edge changes arrive along: with no rule for it, every change
    # there would leave the node "unaffected" (a downstream one, `output`, arrives at its target instead)
    received = {str(edge) for _, edge in decl.impact.receives}
    out += [
        f"{decl.name}: no impact rule for what arrives along `{edge}` (impact.receives)"
        for edge in dict.fromkeys(str(r.edge) for r in decl.references if str(r.edge) not in DOWNSTREAM_EDGES)
        if edge not in received
    ]
    if isinstance(decl.model, type):
        out += [f"{decl.name}: {p}" for p in reference_mismatches(decl.model, decl.references)]
    return out


def reference_mismatches(model: type[BaseModel], declared: tuple[Reference, ...]) -> list[str]:
    """Where the model's ``RefTo`` fields and the kind's declared references differ."""
    from modelplane.specs.refs import ANY_INDEX, reference_paths

    found = []
    for path, ref in reference_paths(model):
        text = ".".join("[*]" if p == ANY_INDEX else str(p) for p in path).replace(".[*]", "[*]")
        found.append(Reference(text, ref.kinds, ref.edge))
    out = [
        f"the model references {r.path} ({r.edge}), the kind does not declare it" for r in found if r not in declared
    ]
    out += [
        f"the kind declares {r.path} ({r.edge}), the model has no such reference" for r in declared if r not in found
    ]
    return out


def register(decl: KindDecl) -> KindEntry:
    """Add a kind; ``IncompleteKind`` names every facet it lacks."""
    wrong = problems(decl)
    if wrong:
        raise IncompleteKind("kind is incomplete: " + "; ".join(wrong))
    assert decl.model is not None and decl.references is not None and decl.impact is not None
    assert decl.diff is not None and decl.catalog is not None and decl.secrets is not None and decl.graph is not None
    entry = KindEntry(
        name=str(decl.name),
        model_ref=decl.model,
        references=decl.references,
        impact=decl.impact,
        diff=decl.diff,
        catalog=decl.catalog,
        secrets=decl.secrets,
        graph=decl.graph,
        plan=decl.plan,
        tier=decl.tier,
        lineage=decl.lineage,
    )
    _KINDS[entry.name] = entry
    _BY_ID[entry.id_kind] = entry
    _version[0] += 1
    return entry


def unregister(name: str) -> None:
    entry = _KINDS.pop(name)
    del _BY_ID[entry.id_kind]
    _version[0] += 1


@contextmanager
def registered(decl: KindDecl) -> Iterator[KindEntry]:
    """A kind registered for the length of a ``with`` block (a test's toy kind)."""
    entry = register(decl)
    try:
        yield entry
    finally:
        unregister(entry.name)


def version() -> int:
    return _version[0]


def get(name: str) -> KindEntry:
    """The kind called ``name`` (``Dataset``); ``KeyError`` for an unknown one."""
    return _KINDS[name]


def find(name: object) -> KindEntry | None:
    """The kind called ``name``, or None (a document's ``kind`` may be anything)."""
    return _KINDS.get(name) if isinstance(name, str) else None


def by_id_kind(id_kind: str) -> KindEntry:
    """The kind as node ids write it (``dataset``)."""
    return _BY_ID[id_kind]


def names() -> tuple[str, ...]:
    """Every registered kind, in data-flow order (built-ins first, then any registered later)."""
    return tuple(_KINDS)


def entries() -> tuple[KindEntry, ...]:
    return tuple(_KINDS.values())


def impact_rules() -> dict[tuple[Signal, str, str], Rule]:
    """Every kind's ``receives`` as one table (signal, edge, receiving kind) -> rule, in edge-kind order, then
    kind order: the order README's table shows."""
    edge_order = {e.value: i for i, e in enumerate(EdgeKind)}
    rows = [
        ((edge_order.get(str(edge), len(edge_order)), k, i), (signal, str(edge), entry.name), rule)
        for k, entry in enumerate(_KINDS.values())
        for i, ((signal, edge), rule) in enumerate(entry.impact.receives.items())
    ]
    return {key: rule for _, key, rule in sorted(rows, key=lambda r: r[0])}


def check_all() -> list[str]:
    """Every problem of every registered kind (the registry test runs this over the real kinds)."""
    out = []
    for entry in _KINDS.values():
        decl = KindDecl(
            name=entry.name,
            model=entry.model,
            references=entry.references,
            impact=entry.impact,
            diff=entry.diff,
            catalog=entry.catalog,
            secrets=entry.secrets,
            graph=entry.graph,
            plan=entry.plan,
            tier=entry.tier,
            lineage=entry.lineage,
        )
        out += problems(decl)
        for ref in entry.references:  # what flows out along a downstream reference arrives at its targets
            if str(ref.edge) not in DOWNSTREAM_EDGES:
                continue
            for target in (_BY_ID[k] for k in ref.to if k in _BY_ID):
                if not any(str(edge) == str(ref.edge) for _, edge in target.impact.receives):
                    out.append(f"{target.name}: no impact rule for what arrives along `{ref.edge}` from {entry.name}")
        kind_field = entry.model.model_fields.get("kind")
        if kind_field is None or entry.name not in str(kind_field.annotation):
            out.append(f"{entry.name}: its model's `kind` field does not name it")
    return out


for _decl in (DATASET, FEATURE, WORKFLOW, MODEL, EVALUATION, STACK, ENDPOINT, SERVICE):
    register(_decl)
BUILT_IN = entries()
"""The built-in kinds (the typed ``union.SPEC_ADAPTER`` is built from them)."""


def only_built_in() -> bool:
    """Nothing but the built-in kinds is registered (a test's toy kind has come and gone, or never came)."""
    now = entries()
    return len(now) == len(BUILT_IN) and all(a is b for a, b in zip(now, BUILT_IN, strict=True))
