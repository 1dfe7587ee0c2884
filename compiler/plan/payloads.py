"""What each plan action carries beyond its id, type, target and reason: one typed payload per action type.

A payload's JSON is the object its fields were set in, in declared order, and nothing else: an unset field
is left out (not written as null), so a plan file and a recorded workflow input read and write the same
bytes as the ``dict`` these payloads replaced. ``PlanAction.details`` holds the plan's payload
(``PAYLOADS[type]``); ``ExecutionAction.details`` (what the runtime reads) is ``ExecutionDetails``: the
plan's payload plus what the plan's execution part adds (timeout, stack, revision, engine arguments...).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

OwnerDuty = Literal["fix", "retrain", "re-evaluate", "watch-rollout", "review-change", "be-informed"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @model_serializer(mode="wrap")
    def _set_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # only the fields set: a plan made before these types (a dict of the keys that applied) reads and
        # writes back the same JSON, so its id and seal stay what they were
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if k in self.model_fields_set}

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class NoDetails(_Payload):
    """``provision`` and ``decommission``: the target says it all."""


class RegisterDetails(_Payload):
    """``register``: set when the model registers the artifact a run of this apply trains."""

    trained_by: str | None = None
    """The ``run-workflow:...`` action whose output it registers."""
    model_spec: str | None = None
    """The hash of the model spec the artifact is trained for (``compiler.plan.artifacts.spec_hash``)."""


class RunDetails(_Payload):
    """``run-workflow``."""

    trains: list[str] | None = None
    """The models whose artifact this run produces, registered once it is done."""


class EvaluateDetails(_Payload):
    """``evaluate``."""

    trained_by: str | None = None
    """Set when it judges the weights a run of this apply trains."""


class RolloutDetails(_Payload):
    """``rollout``: a retrain's canary (``trained_by``, ``retrain``) or an in-place change (``in_place``,
    ``revision``); neither for an ordinary rollout."""

    trained_by: str | None = None
    retrain: str | None = None
    """What the retrain's rollout does, as the plan report says it."""
    in_place: bool | None = None
    revision: str | None = None
    """The revision that keeps serving (an in-place change)."""


class NotifyDetails(_Payload):
    """``notify``: what the owner is told."""

    services: list[str]
    most_critical_tier: int | None
    must: dict[OwnerDuty, list[str]]


ActionDetails = NoDetails | RegisterDetails | RunDetails | EvaluateDetails | RolloutDetails | NotifyDetails

PAYLOADS: dict[str, type[ActionDetails]] = {
    "register": RegisterDetails,
    "run-workflow": RunDetails,
    "evaluate": EvaluateDetails,
    "provision": NoDetails,
    "rollout": RolloutDetails,
    "decommission": NoDetails,
    "notify": NotifyDetails,
}
"""The payload of each action type (``ActionType``)."""


class ExecutionDetails(_Payload):
    """What an action's executor reads: its plan payload's fields, then what the execution part adds."""

    # the plan payload's fields (each action type sets its own, in the order declared there)
    trained_by: str | None = None
    model_spec: str | None = None
    trains: list[str] | None = None
    retrain: str | None = None
    in_place: bool | None = None
    services: list[str] | None = None
    most_critical_tier: int | None = None
    must: dict[OwnerDuty, list[str]] | None = None
    # added at plan time for the executor (compiler.plan.execution)
    timeout_s: float | None = None
    stack: str | None = None
    revision: str | None = None
    artifact: dict[str, str] | None = None
    """The digest and folder of the trained weights the revision serves (``compiler.plan.artifacts``)."""
    engine_args: list[str] | None = None
    """The rendered ``vllm serve`` arguments."""
    secrets: dict[str, dict[str, Any]] | None = None
    """Per secret the action resolves, its declared source (``{}``: the default); never a value."""

    @model_serializer(mode="wrap")
    def _set_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        fields = [k for k in out if k in self.model_fields_set]
        if self.in_place and "revision" in fields:
            # an in-place rollout's revision is its plan payload's own field: it keeps that place
            fields.remove("revision")
            fields.insert(fields.index("in_place") + 1, "revision")
        return {k: out[k] for k in fields}

    @classmethod
    def of(cls, payload: ActionDetails, **added: Any) -> ExecutionDetails:
        """The plan's ``payload`` with the execution part's ``added`` fields (set ones only)."""
        own = payload.model_fields_set
        values = {k: v for k, v in payload.__dict__.items() if k in own}
        return cls.constructed({**values, **added})

    @classmethod
    def constructed(cls, values: dict[str, Any]) -> ExecutionDetails:
        """``model_construct(**values)`` (the compiler's own values, validated where they are made), without
        its per-field default lookups: every default here is None, and a plan builds one per action (a fifth
        of ``executable``'s time on a 2,000-node plan went to them)."""
        out = cls.__new__(cls)
        object.__setattr__(out, "__dict__", {**_UNSET, **values})
        object.__setattr__(out, "__pydantic_fields_set__", set(values))
        object.__setattr__(out, "__pydantic_extra__", None)
        object.__setattr__(out, "__pydantic_private__", None)
        return out


_UNSET: dict[str, Any] = dict.fromkeys(ExecutionDetails.model_fields)
"""Every field of ``ExecutionDetails`` at its default (None)."""
