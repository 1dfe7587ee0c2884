"""MACs that bind what runs to what modelplane planned (issue 30, item 1).

The key is a random secret the state store creates with itself (``Store.mac_key``): only those who can
read the state (the owner of ``.modelplane/state.db``, mode 0600; the holders of the team's PostgreSQL
credentials) can make a MAC. Three MACs, each HMAC-SHA256 over canonical JSON:

- the **plan seal** (``Execution.seal``): the whole saved plan, its approval policy included; ``apply``
  refuses a plan whose seal does not match (a hand edit of a command or of engine arguments);
- the **apply MAC** (``ApplyInput.mac``): the workflow's whole input, made by ``apply`` once the seal and
  the approvals are checked; the workflow's first activity (``preflight``) refuses an input without it;
- the **action MAC** (``ActionSpec.mac``): one action bound to its apply and environment; every activity
  checks it for its own action, so a workflow started by hand with a forged action runs nothing.

This module does no I/O: callers pass the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from modelplane.compiler.plan.model import Plan
from modelplane.runtime.temporal.messages import ActionSpec, ApplyInput

_CARRIED = {"mac", "results", "recorded", "started_at"}
"""ApplyInput fields outside its MAC: the MAC itself and what continue-as-new carries over."""


def canonical(value: Any) -> bytes:
    """One byte string per JSON value (sorted keys, no spaces): what the MACs are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _mac(key: bytes, domain: str, value: Any) -> str:
    # the domain keeps a MAC of one kind from passing as another (a plan's seal as an action's MAC)
    return hmac.new(key, domain.encode() + b"\0" + canonical(value), hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a, b)


def plan_body(plan: Plan) -> dict[str, Any]:
    """The plan as its seal covers it: everything but the seal."""
    return plan.model_dump(mode="json", exclude={"execution": {"seal"}})


def plan_seal(key: bytes, plan: Plan) -> str:
    return _mac(key, "modelplane-plan-v1", plan_body(plan))


def seal(key: bytes, plan: Plan) -> Plan:
    """The plan with its seal (its execution part must be there: only executable plans are sealed)."""
    ex = plan.execution
    assert ex is not None
    blank = plan.model_copy(update={"execution": ex.model_copy(update={"seal": ""})})
    return blank.model_copy(update={"execution": ex.model_copy(update={"seal": plan_seal(key, blank)})})


def plan_sealed(key: bytes, plan: Plan) -> bool:
    return plan.execution is not None and _same(plan.execution.seal, plan_seal(key, plan))


def action_mac(key: bytes, environment: str, apply_id: str, action: ActionSpec) -> str:
    body = action.model_dump(mode="json", exclude={"mac"})
    return _mac(key, "modelplane-action-v1", {"environment": environment, "apply_id": apply_id, "action": body})


def action_ok(key: bytes, environment: str, apply_id: str, action: ActionSpec) -> bool:
    return _same(action.mac, action_mac(key, environment, apply_id, action))


def input_mac(key: bytes, inp: ApplyInput) -> str:
    return _mac(key, "modelplane-apply-v1", inp.model_dump(mode="json", exclude=_CARRIED))


def sign_input(key: bytes, inp: ApplyInput) -> ApplyInput:
    """The input with every action's MAC and the input's own (made last: it covers the actions' MACs)."""
    actions = [a.model_copy(update={"mac": action_mac(key, inp.environment, inp.apply_id, a)}) for a in inp.actions]
    signed = inp.model_copy(update={"actions": actions, "mac": ""})
    return signed.model_copy(update={"mac": input_mac(key, signed)})


def input_ok(key: bytes, inp: ApplyInput) -> bool:
    return _same(inp.mac, input_mac(key, inp)) and all(
        action_ok(key, inp.environment, inp.apply_id, a) for a in inp.actions
    )


def digest(value: Any) -> str:
    """What ran, as the state records it: a SHA-256 of the verified input (no key: anyone may compare)."""
    return hashlib.sha256(canonical(value)).hexdigest()
