"""Spec kinds: one module per kind and the registry that gathers them.

Each kind module (``dataset.py``, ``feature.py``, ... ``service.py``) declares everything modelplane knows about
its kind as a ``facets.KindDecl``: its pydantic model (by import path: the model classes stay in
``specs/data.py``, ``models.py``, ``platform.py``, ``serving.py``), its reference fields and edge kinds, its
impact rules, its diff rules, whether the catalog registers it, where secrets may be written, how graph
views draw it and the plan actions its changes run. ``registry`` registers them; the compiler, the runtime
and the views look kinds up there instead of branching on a kind's name. ``union`` is the discriminated
union the loader validates against (``KIND_MODELS``, ``KINDS``, ``AnySpec``, ``SPEC_ADAPTER`` are read from it
on first use: building the models costs ~0.1 s).
"""

from __future__ import annotations

import importlib
from typing import Any

_UNION = ("KIND_MODELS", "KINDS", "AnySpec", "AnySpecModel", "SPEC_ADAPTER")


def __getattr__(name: str) -> Any:
    if name in _UNION:
        return getattr(importlib.import_module("modelplane.specs.kinds.union"), name)
    raise AttributeError(f"module 'modelplane.specs.kinds' has no attribute {name!r}")
