"""Typed action ids: what ``register:model/x`` and ``decommission:endpoint/x@stack/old`` are made of.

An action id is ``TYPE:TARGET``; a target is a node id, or for an endpoint leaving a stack
``NODE@STACK`` (the endpoint, and the stack it moves off). The plan's JSON keeps both as
strings (its format is a contract); code reads them through these, never by splitting.
"""

from __future__ import annotations

from typing import NamedTuple

from modelplane.specs.base import NodeId, split_id


class Target(NamedTuple):
    node: NodeId
    off: NodeId | None = None
    """The stack an endpoint moves off (its decommission there); None for every other target."""

    def __str__(self) -> str:
        return f"{self.node}@{self.off}" if self.off is not None else str(self.node)

    @classmethod
    def parse(cls, text: str) -> Target:
        """``kind/name`` or ``kind/name@stack/name``; ``ValueError`` for anything else."""
        node, at, off = text.partition("@")
        return cls(NodeId.parse(node), NodeId.parse(off) if at else None)


class ActionId(NamedTuple):
    type: str
    target: Target

    def __str__(self) -> str:
        return f"{self.type}:{self.target}"

    @staticmethod
    def type_of(text: str) -> str:
        """The type of an id, whatever its target (an id an older apply left in the state)."""
        return text.partition(":")[0]

    @classmethod
    def parse(cls, text: str) -> ActionId:
        """``type:target``; ``ValueError`` where either part is missing or the target is not one."""
        kind, target = split_id(text, ":", "type:kind/name")
        return cls(kind, Target.parse(target))
