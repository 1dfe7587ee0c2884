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

from modelplane.runtime.state.ports import EffectWrites


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
    trained: dict[str, Any] | None = None
    """The artifact a ``run-workflow`` of this apply trained, for the actions that follow it (``trained_by``):
    the model's ``register``, its evaluations, its endpoints' rollout steps."""

    def heartbeat(self, *details: Any) -> None:
        from temporalio import activity

        if activity.in_activity():
            activity.heartbeat(*details)
