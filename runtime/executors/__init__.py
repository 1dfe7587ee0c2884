"""What each plan action does: one executor per action type, called by the ``execute_action`` activity.

An executor returns an ``Effect`` (the output to show plus what to write to the
state store); the activity writes it together with the ledger entry in one
transaction. A problem the user must fix raises ``ActionFailed``: it is not
retried and its message is shown as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelplane.compiler.errors import ModelplaneError
from modelplane.runtime.state.ports import EffectWrites


class ActionFailed(ModelplaneError):
    """An action failed in a way retrying will not fix (bad command, failing evaluation, missing provisioner).

    ``hint`` says how to fix it; ``details`` are facts for tools (a log's path, the provider). Both travel
    with the Temporal failure (``ApplicationError`` details: ``{..., "hint": ...}``) to whoever follows
    the apply, and the worker does not retry it.
    """

    retryable = False

    def __init__(self, message: str, details: dict[str, Any] | None = None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.details = {**(details or {}), **({"hint": hint} if hint else {})}


@dataclass
class Effect:
    output: dict[str, Any] = field(default_factory=dict)
    writes: EffectWrites = field(default_factory=EffectWrites)


@dataclass
class Context:
    root: Path
    environment: str
    apply_id: str
    key: str
    attempt: int
    run_dir: Path
    """Where this action's logs and files go (.modelplane/runs/<apply>/<action>)."""

    def heartbeat(self, *details: Any) -> None:
        from temporalio import activity

        if activity.in_activity():
            activity.heartbeat(*details)
