"""The names of spec kinds and edge kinds, as str-valued enums.

A member compares and hashes equal to its text (``Kind.DATASET == "Dataset"``), so documents, plan files and
JSON keep the plain strings; code compares against the enum instead of a free literal, and a typo is an
attribute error. Kinds registered at run time (a test's toy kind) are plain strings beside these.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """The built-in kinds, in the order data flows through them (reports list kinds in this order)."""

    DATASET = "Dataset"
    FEATURE = "Feature"
    WORKFLOW = "Workflow"
    MODEL = "Model"
    EVALUATION = "Evaluation"
    STACK = "Stack"
    ENDPOINT = "Endpoint"
    SERVICE = "Service"

    @property
    def id_kind(self) -> str:
        """The kind as node ids write it (``dataset/raw-events``)."""
        return self.value.lower()


class EdgeKind(StrEnum):
    """What an edge of the lineage graph means, in the order impact's rules list them."""

    DERIVES = "derives"
    READS = "reads"
    INPUT = "input"
    OUTPUT = "output"
    PRODUCES = "produces"
    TRAINED_ON = "trained_on"
    EVALUATES_ON = "evaluates_on"
    EVALUATES = "evaluates"
    SERVES = "serves"
    HOSTS = "hosts"
    CONSUMES = "consumes"
    GATES = "gates"
    """Derived, not declared: a blocking evaluation of a model gates the endpoints serving it."""


PRODUCING_EDGES = frozenset({EdgeKind.OUTPUT, EdgeKind.PRODUCES})
"""The edges from a workflow to what it trains or writes (a model's producers are found along them)."""
