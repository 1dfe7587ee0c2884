"""The checks every activity makes before it acts: only inputs ``modelplane apply`` made run (issue 30).

A workflow input reaches a worker from whoever can start a workflow on its Temporal service (another
local user, anyone with namespace access in team mode). Its MACs (``runtime.trust``) say whether
``apply`` made it with the state store's key: the preflight checks the whole input before any action,
each activity checks its own action again, and an apply that is not running in the state's history
(finished, or never begun) runs nothing more, so an input copied from a past apply cannot run again.
Every refusal is written to the environment's audit trail (``refused``); a verified apply's digest of
what it runs is written there too (``verified``).
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from modelplane.runtime import trust
from modelplane.runtime.state import Store
from modelplane.runtime.temporal.messages import ActionInput, PreflightInput, PreflightProblem

REFUSED = "refused"
VERIFIED = "verified"

HINT = (
    "only `modelplane apply` (with access to the state store) makes a workflow input that runs; "
    "apply the plan again with it, and see `modelplane history` / the audit trail for who started this one"
)


def refuse(store: Store, environment: str, claimed_by: str, detail: dict[str, Any]) -> None:
    """Record a refusal in the audit trail; who is what the input claimed (unverified: it says so)."""
    store.audit_add(environment, f"unverified: {claimed_by or '?'}", REFUSED, detail)


def check_apply(store: Store, key: bytes, inp: PreflightInput) -> list[PreflightProblem]:
    """The preflight's check of the whole workflow input, before the lock or anything else is touched."""
    apply = inp.apply
    why = None
    if apply is None or not trust.input_ok(key, apply):
        why = "its MAC does not match: the input was not made by `modelplane apply` on this state store (forged or edited)"
    elif (apply.apply_id, apply.environment) != (inp.apply_id, inp.environment):
        why = "it does not match the preflight's own apply"
    else:
        row = store.history_of(apply.apply_id)
        if row is not None and (row.outcome != "running" or row.workflow_id != inp.workflow_id):
            why = f"apply {apply.apply_id} already ran (workflow {row.workflow_id}, {row.outcome}): an input runs once"
    if why is not None:
        refuse(
            store,
            inp.environment,
            inp.requested_by,
            {
                "apply_id": inp.apply_id,
                "workflow_id": inp.workflow_id,
                "why": why,
                "actions": [a.id for a in inp.actions],
            },
        )
        return [
            PreflightProblem(what=f"refused the workflow input of apply {inp.apply_id}: {why}; nothing ran", hint=HINT)
        ]
    assert apply is not None
    store.audit_add(
        inp.environment,
        apply.requested_by,
        VERIFIED,
        {
            "apply_id": apply.apply_id,
            "plan_id": apply.plan_id,
            "workflow_id": inp.workflow_id,
            # what actually runs: a digest per action (compare with a plan's `modelplane plan --out`)
            "digest": trust.digest(apply.model_dump(mode="json", exclude={"mac", "results", "recorded", "started_at"})),
            "actions": {a.id: trust.digest(a.model_dump(mode="json", exclude={"mac"})) for a in apply.actions},
        },
    )
    return []


def check_action(store: Store, key: bytes, inp: ActionInput, activity_name: str) -> None:
    """An activity's check of its own action: its MAC, and its apply still running in the state's history."""
    why = None
    if not trust.action_ok(key, inp.environment, inp.apply_id, inp.action):
        why = "its MAC does not match: the action was not planned by modelplane for this apply (forged or edited)"
    else:
        row = store.history_of(inp.apply_id)
        if row is None or row.outcome != "running":
            state = "never began" if row is None else f"is {row.outcome}"
            why = f"apply {inp.apply_id} {state} in the state's history: an action runs only inside its running apply"
    if why is None:
        return
    refuse(
        store,
        inp.environment,
        "",
        {"apply_id": inp.apply_id, "action": inp.action.id, "activity": activity_name, "why": why},
    )
    raise ApplicationError(
        f"refused {inp.action.id} ({activity_name}): {why}; nothing ran",
        {"hint": HINT},
        type="InputRefused",
        non_retryable=True,
    )
