"""Spec language v1: the typed contract every other part of modelplane reads.

One pydantic model per kind, discriminated on ``kind``; references between
nodes are declared next to the fields that hold them (see ``refs``), so the
compiler can link and check them without knowing each kind by heart.

The kind models are imported on first use (building them costs ~0.1 s), so a
warm run that never validates a document does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import Any

from modelplane.specs.base import API_VERSION, KIND_MODULES, Metadata, NodeId

_LAZY = {"KIND_MODELS": "kinds", "KINDS": "kinds", "AnySpec": "kinds", **KIND_MODULES}

__all__ = ["API_VERSION", "Metadata", "NodeId", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"modelplane.specs.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'modelplane.specs' has no attribute {name!r}")
