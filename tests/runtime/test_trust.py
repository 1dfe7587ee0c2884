"""Issue 30, items 1 and 3 in unit form: the MACs bind a plan and a workflow input to their content and
to the state store's key; approvals follow the plan's sealed policy and a stronger identity than $USER."""

from __future__ import annotations

import os
import stat
from functools import cache
from pathlib import Path

import pytest

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.execution import executable
from modelplane.compiler.plan.model import ApprovalPolicy, Plan
from modelplane.errors import ModelplaneError
from modelplane.runtime import approvals, identity, trust
from modelplane.runtime.apply import apply_input
from modelplane.runtime.settings import settings_for
from modelplane.runtime.state.sqlite import StateStore
from modelplane.runtime.temporal.messages import ApplyInput
from tests.conftest import EXAMPLES

ROOT = EXAMPLES / "assistant-platform"


@cache
def _plan() -> Plan:
    result = make_plan(ROOT, "dev", use_cache=False)
    return executable(result.plan, result.head.graph, result.base)


def _signed(key: bytes) -> ApplyInput:
    s = settings_for(ROOT, "dev")
    return apply_input(_plan(), s, 8, True, apply_id="1.abc", store_id="abc", key=key)


def test_the_key_lives_in_the_state_file_only_its_owner_reads(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    key = store.mac_key()
    assert len(key) == 32 and store.mac_key() == key  # made once, then read back
    assert StateStore(tmp_path / "state.db").mac_key() == key
    assert StateStore(tmp_path / "other.db").mac_key() != key  # another store, another key
    assert stat.S_IMODE(os.stat(tmp_path / "state.db").st_mode) == 0o600
    assert "meta" not in store.dump()  # `state export` never carries it


def test_a_signed_input_survives_the_wire_and_an_edit_does_not() -> None:
    key = os.urandom(32)
    inp = _signed(key)
    wire = ApplyInput.model_validate_json(inp.model_dump_json())  # what the worker decodes
    assert trust.input_ok(key, wire)
    assert all(trust.action_ok(key, "dev", "1.abc", a) for a in wire.actions)
    assert not trust.input_ok(os.urandom(32), wire)  # another store's key

    rollout = next(i for i, a in enumerate(wire.actions) if a.type == "rollout")
    edited = wire.model_copy(deep=True)
    evil = edited.actions[rollout].details.model_copy(
        update={"engine_args": ["--model", "evil", "--trust-remote-code"]}
    )
    edited.actions[rollout].details = evil
    assert not trust.input_ok(key, edited)
    assert not trust.action_ok(key, "dev", "1.abc", edited.actions[rollout])
    # an action's MAC names its apply: copied into another apply, it fails
    assert not trust.action_ok(key, "dev", "2.abc", wire.actions[rollout])
    assert not trust.input_ok(key, wire.model_copy(update={"requested_by": "mallory@x"}))
    assert not trust.input_ok(key, wire.model_copy(update={"mac": ""}))
    # what continue-as-new carries over is outside the MAC
    assert trust.input_ok(key, wire.model_copy(update={"recorded": ["model/x"]}))


def test_a_sealed_plan_is_refused_once_edited() -> None:
    key = os.urandom(32)
    sealed = trust.seal(key, _plan())
    again = Plan.model_validate_json(sealed.model_dump_json())
    assert trust.plan_sealed(key, again) and again.id == _plan().id  # the seal is not part of the id
    assert not trust.plan_sealed(key, _plan())  # never sealed
    edited = again.model_copy(deep=True)
    assert edited.execution is not None
    first = edited.execution.actions[0]
    edited.execution.actions[0] = first.model_copy(
        update={"details": first.details.model_copy(update={"timeout_s": 1})}
    )
    assert not trust.plan_sealed(key, edited)
    assert again.execution is not None
    other = again.execution.model_copy(update={"approvals": ApprovalPolicy(require=["breaking"])})
    assert not trust.plan_sealed(key, again.model_copy(update={"execution": other}))  # the policy is bound too


def _with_policy(require: list[str], approvers: dict[str, list[str]]) -> Plan:
    plan = _plan()
    assert plan.execution is not None
    ex = plan.execution.model_copy(update={"approvals": ApprovalPolicy(require=require, approvers=approvers)})
    return plan.model_copy(update={"execution": ex})


def test_only_a_listed_approver_of_an_owner_the_plan_names_may_approve(tmp_path: Path) -> None:
    effects = sorted({c.effect for c in _plan().changes})
    plan = _with_policy(effects, {})
    owners = list(approvals.needed(plan, effects))
    assert owners, "the example's first plan has owners to ask"
    owner = owners[0]
    plan = _with_policy(effects, {owner: ["alice"]})
    alice = identity.Identity("alice", "os-user")
    assert approvals.check_approver(plan, owner, alice)
    with pytest.raises(ModelplaneError, match=r"mallory \(os-user\) may not approve for .*lists alice"):
        approvals.check_approver(plan, owner, identity.Identity("mallory", "os-user"))
    with pytest.raises(ModelplaneError, match="does not need an approval from `team-nobody`") as refused:
        approvals.check_approver(plan, "team-nobody", alice)
    # the refusal names every owner the plan needs, and the command to approve for one of them
    assert all(f"`{o}`" in str(refused.value) for o in owners), refused.value
    assert f"--plan {plan.id} --owner {owners[0]}" in str(refused.value.diagnostics[0].hint)

    store = StateStore(tmp_path / "state.db")
    approvals.record(store, plan.environment, plan.id, owner, identity.Identity("mallory", "os-user"), [])
    assert owner in approvals.missing(plan, store)  # recorded, but not by one of the owner's approvers
    approvals.record(store, plan.environment, plan.id, owner, alice, [])
    assert owner not in approvals.missing(plan, store)
    # the same records under a plan whose sealed policy lists someone else: not approved
    assert owner in approvals.missing(_with_policy(effects, {owner: ["bob"]}), store)


def test_the_os_user_comes_from_the_uid_not_from_USER(tmp_path: Path) -> None:
    me = identity.current(tmp_path, {"USER": "alice", "LOGNAME": "alice"})
    assert me.source == "os-user" and me.name == identity.os_user() != "alice"


def test_a_ci_oidc_token_names_its_actor(tmp_path: Path) -> None:
    import base64
    import json

    claims = base64.urlsafe_b64encode(json.dumps({"actor": "octocat", "repository": "o/r"}).encode()).decode()
    me = identity.current(tmp_path, {"MODELPLANE_OIDC_TOKEN": f"e30.{claims.rstrip('=')}.sig", "USER": "x"})
    assert (me.name, me.source, me.detail) == ("octocat", "oidc", "o/r")
