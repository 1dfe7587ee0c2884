"""From a plan to a running ``ApplyPlan`` workflow: freshness checks, the lock, start or re-attach.

A saved plan is applied only if it is still true: it was made against the
applied state (not a git ref), for this environment, at the state serial the
store is at now. Otherwise it is refused as stale, naming what changed since.
What it executes comes from the plan alone (``Plan.execution``): the specs on
disk are not compiled again, so a changed working tree changes nothing.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.execution import executable
from modelplane.compiler.plan.model import PLAN_FORMAT_VERSION, Plan
from modelplane.compiler.source.scan import scan
from modelplane.errors import Diagnostic, ModelplaneError, PlanError
from modelplane.runtime.settings import Settings
from modelplane.runtime.state import StateReader, Store
from modelplane.runtime.temporal.messages import ActionSpec, ApplyInput, ApplyOutcome
from modelplane.specs.project import LineageSettings

if TYPE_CHECKING:
    from modelplane.runtime.state.ports import HistoryEntry
    from modelplane.runtime.temporal.client import ApplyHandle


def load_plan_file(path: Path) -> Plan:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanError(Diagnostic("plan-unreadable", f"cannot read plan {path}: {exc.strerror}")) from None
    try:
        plan = Plan.model_validate_json(text)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise PlanError(
            Diagnostic(
                "plan-invalid",
                f"{path} is not a modelplane plan (format_version {PLAN_FORMAT_VERSION}): {first}",
                hint="make one with `modelplane plan --out FILE` (plans of older modelplane versions must be made again)",
            )
        ) from None
    if plan.execution is None:
        raise PlanError(
            Diagnostic(
                "plan-not-executable",
                f"{path} holds a report, not an executable plan (it has no `execution` part)",
                hint="save an applicable plan with `modelplane plan --out FILE` (`--format json` prints a report)",
            )
        )
    return plan


def fresh_plan(s: Settings, store: Store) -> Plan:
    """Plan now, against the applied state, with everything apply will execute (the only compile of an apply),
    sealed with the store's key."""
    from modelplane.runtime.local.drift import LocalRepairs

    result = make_plan(s.root, s.environment, state=LocalRepairs(store, s.root))  # what the local stack lost too
    if result.errors:
        from modelplane.errors import GraphError

        raise GraphError(result.errors)
    return seal_plan(s, executable(result.plan, result.head.graph, result.base), store)


def seal_plan(s: Settings, plan: Plan, store: Store) -> Plan:
    """The executable plan with the environment's approval policy as it is now, sealed with the store's MAC key
    (``runtime.trust``): apply runs it only unedited, under that policy."""
    from modelplane.compiler.plan.notes import policy_for
    from modelplane.runtime import trust

    assert plan.execution is not None
    policy = policy_for(s.project.environments[s.environment].approvals)  # what `plan` shows too (plan_notes)
    with_policy = plan.model_copy(update={"execution": plan.execution.model_copy(update={"approvals": policy})})
    return trust.seal(store.mac_key(), with_policy)


def check_seal(saved: Plan, path: Path | str, store: Store) -> None:
    """Refuse a saved plan modelplane did not make for this state store, or that was edited since."""
    from modelplane.runtime import trust

    if trust.plan_sealed(store.mac_key(), saved):
        return
    ex = saved.execution
    what = "has no seal" if ex is None or not ex.seal else "does not match its seal: it was edited after it was saved"
    raise PlanError(
        Diagnostic(
            "plan-tampered",
            f"{path} {what} (or it was made for another state store than {store.describe()}); "
            "a plan runs only as modelplane made it",
            hint="make it again with `modelplane plan --out FILE` and review that file; never edit a saved plan",
        )
    )


def check_saved(
    saved: Plan, path: Path | str, s: Settings, store: StateReader, allow_stale_specs: bool = False
) -> list[str]:
    """Refuse a saved plan that no longer applies; returns notes to show (the working tree changed since).

    The plan carries every document it deploys, so what is on disk now does not
    change what it does: the state serial is the staleness check that matters
    (the plan's base must still be what is applied). The specs' fingerprint is
    compared with a scan of the working tree (file hashes, no validation: a few
    ms): a plan made from other specs than the working tree's is refused (applying it
    would not apply what the reader sees), unless ``allow_stale_specs``.
    """
    problems = []
    notes: list[str] = []
    if saved.base.kind != "state":
        problems.append(
            Diagnostic(
                "plan-not-applicable",
                f"{path} compares against git ref `{saved.base.ref}`, not against what is applied",
                hint=f"make an applicable plan with `modelplane plan --env {s.environment} --out FILE` (no --base)",
            )
        )
    elif saved.environment != s.environment or saved.project != s.project.name:
        problems.append(
            Diagnostic(
                "plan-wrong-environment",
                f"{path} is for {saved.project}/{saved.environment}, not {s.project.name}/{s.environment}",
                hint=f"pass --env {saved.environment}",
            )
        )
    elif saved.state_serial != store.serial(s.environment):
        changed = store.changed_since(s.environment, saved.state_serial)
        shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
        problems.append(
            Diagnostic(
                "plan-stale",
                f"{path} is stale: it was made at state serial {saved.state_serial} of {s.environment}, "
                f"which is now at {store.serial(s.environment)}; changed since: {shown or 'the state was reset'}",
                hint=f"plan again: `modelplane plan --env {s.environment} --out {path}`",
            )
        )
    else:
        _check_specs(saved, path, s, allow_stale_specs, problems, notes)
    if problems:
        raise PlanError(problems)
    return notes


def _check_specs(
    saved: Plan, path: Path | str, s: Settings, allow: bool, problems: list[Diagnostic], notes: list[str]
) -> None:
    """A plan made from other specs than the working tree's: refused, or (``allow``) a note."""
    try:
        now = scan(s.root, s.environment).fingerprint
    except ModelplaneError:
        now = None
    if now == saved.spec_fingerprint:
        return
    if allow:
        notes.append(
            f"note: the specs on disk changed since {path} was made; applying the plan as saved "
            "(--allow-stale-specs: it carries every document it deploys). Plan again to apply the working tree."
        )
        return
    problems.append(
        Diagnostic(
            "plan-stale-specs",
            f"the specs on disk changed since {path} was made (fingerprint {saved.spec_fingerprint[:12]} "
            f"then, {(now or 'unreadable')[:12]} now): applying it would not apply the working tree",
            hint=f"plan again: `modelplane plan --env {s.environment} --out {path}`, or apply the plan as "
            "saved with `--allow-stale-specs`",
        )
    )


def requested_by() -> str:
    """Who asks, as ``user@host``: recorded with applies, approvals and unlocks."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def lineage_settings(
    declared: LineageSettings | None, project: str, environment: str, environ: Mapping[str, str] | None = None
) -> LineageSettings | None:
    """What the apply's activities send OpenLineage events with: the project's ``lineage:`` (namespace
    filled in), or the client's own variables where set here; None sends nothing."""
    env = os.environ if environ is None else environ
    if declared is None:
        if not any(env.get(v) for v in ("OPENLINEAGE_URL", "OPENLINEAGE__TRANSPORT__TYPE", "OPENLINEAGE_CONFIG")):
            return None
        declared = LineageSettings()
    if not declared.enabled:
        return None
    return declared.model_copy(update={"namespace": declared.namespace or f"modelplane://{project}/{environment}"})


def apply_input(
    plan: Plan,
    s: Settings,
    parallelism: int,
    auto_approve: bool,
    apply_id: str | None = None,
    store_id: str = "",
    key: bytes | None = None,
) -> ApplyInput:
    """The workflow's input, from the plan alone: no compile, no file of the project read.

    ``apply_id`` comes from the state store (``next_apply_id``), unique per apply; ``store_id`` is that
    store's identity, which every state write of the apply checks."""
    ex = plan.execution
    if ex is None:
        raise ModelplaneError("this plan has no `execution` part", hint="make it with `modelplane plan --out FILE`")
    by_id = {a.id: a for a in ex.actions}
    actions = []
    for a in plan.actions:
        e = by_id[a.id]
        stack = e.details.stack
        inputs = ex.stacks.get(str(stack)) if stack else None
        actions.append(
            ActionSpec(
                id=a.id,
                type=a.type,
                target=a.target,
                depends_on=a.depends_on,
                reason=a.reason,
                details=e.details,
                node=e.node,
                context=e.context,
                stack=inputs.model_dump(mode="json") if inputs is not None else None,
            )
        )
    records = list(ex.records)  # the plan's own model: the workflow reads what the compiler wrote
    inp = ApplyInput(
        apply_id=apply_id or plan.id,
        store_id=store_id,
        project=plan.project,
        environment=plan.environment,
        plan_id=plan.id,
        spec_fingerprint=plan.spec_fingerprint,
        requested_by=requested_by(),
        actions=actions,
        records=records,
        parallelism=parallelism,
        auto_approve=auto_approve,
        root=str(s.root.resolve()),
        state=s.state,
        lineage=lineage_settings(s.project.lineage, plan.project, plan.environment),
    )
    if key is None:
        return inp
    from modelplane.runtime import trust

    return trust.sign_input(key, inp)


@dataclass
class Running:
    plan_id: str
    spec_fingerprint: str
    requested_by: str
    started: str
    run_id: str | None
    checkout: str = "?"
    """Where it was started from: the project directory on the requesting machine."""


async def running_apply(client: Any, s: Settings) -> Running | None:
    """The apply holding this environment's lock, if one is running."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    handle = client.get_workflow_handle(s.workflow_id)
    try:
        desc = await handle.describe()
    except RPCError:
        return None
    if desc.status != WorkflowExecutionStatus.RUNNING:
        return None
    memo = await desc.memo()
    return Running(
        plan_id=str(memo.get("plan_id", "?")),
        spec_fingerprint=str(memo.get("spec_fingerprint", "")),
        requested_by=str(memo.get("requested_by", "?")),
        started=desc.start_time.strftime("%Y-%m-%d %H:%M:%S UTC") if desc.start_time else "?",
        run_id=desc.run_id,
        checkout=str(memo.get("checkout", "?")),
    )


def refuse_concurrent(s: Settings, running: Running) -> ModelplaneError:
    return ModelplaneError(
        f"another apply is running on {s.project.name}/{s.environment}: plan {running.plan_id}, "
        f"started {running.started} by {running.requested_by} from {running.checkout} (workflow {s.workflow_id})",
        hint=f"watch it with `modelplane status --env {s.environment}`, or stop it with "
        f"`modelplane abort --env {s.environment}`; then plan again",
    )


async def start(client: Any, s: Settings, inp: ApplyInput) -> Any:
    """Start the apply, or re-attach to the same plan's running apply; refuse a different running plan."""
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    try:
        return await client.start_workflow(
            "ApplyPlan",
            inp,
            result_type=ApplyOutcome,
            id=s.workflow_id,
            task_queue=s.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={
                "plan_id": inp.plan_id,
                "spec_fingerprint": inp.spec_fingerprint,
                "requested_by": inp.requested_by,
                "checkout": inp.root,
            },
        )
    except WorkflowAlreadyStartedError:
        running = await running_apply(client, s)
        if running is not None and running.plan_id == inp.plan_id:
            return workflow_handle(client, s)
        if running is None:  # it finished in between: start again
            return await start(client, s, inp)
        raise refuse_concurrent(s, running) from None


async def attach(s: Settings, with_worker: bool = True) -> tuple[Running, ApplyHandle] | None:
    """The apply running on the environment now (whoever started it, from wherever), and a handle on it."""
    from modelplane.runtime.temporal.client import ApplyHandle, existing_client

    existing = await existing_client(s, with_worker)
    if existing is None:
        return None
    client, ep = existing
    running = await running_apply(client, s)
    if running is None:
        return None
    return running, ApplyHandle(workflow_handle(client, s), ep, s, running.plan_id, reattached=True)


def workflow_handle(client: Any, s: Settings) -> Any:
    """The handle of the environment's apply workflow (whichever run holds the id)."""
    return client.get_workflow_handle(s.workflow_id, result_type=ApplyOutcome)


def _nothing(_: object) -> None:
    return None


@dataclass
class ApplyHooks:
    """How an apply talks to whoever runs it: the CLI prints and asks at a terminal; a script may do neither."""

    show_plan: Callable[[Plan], None] = _nothing
    """Shown the plan before anything else happens (also when there is nothing to do)."""
    confirm: Callable[[Plan], bool] = field(default=lambda plan: True)
    """Asked once approvals are in, before the start (unless ``auto_approve``); False cancels, nothing changed."""
    note: Callable[[str], None] = _nothing
    """Told what a person should know: re-attaching, a saved plan's notes, approvals found."""


@dataclass(frozen=True)
class Launched:
    """What ``launch`` did: started an apply, re-attached to a running one, or neither."""

    handle: ApplyHandle | None
    """None where the plan has nothing to do or was not confirmed (``cancelled``)."""
    plan: Plan | None = None
    """The plan shown and started; None when re-attached to an apply already running."""
    cancelled: bool = False


@dataclass(frozen=True)
class ApplyOptions:
    """``modelplane apply``'s options, for the CLI and ``Workspace.apply`` alike."""

    parallelism: int = 8
    """Actions at a time."""
    auto_approve: bool = False
    """Start without asking ``hooks.confirm`` (CI); recorded with the apply's input."""
    wait_approvals: float = 0.0
    """Seconds to wait for owner approvals the environment's policy requires before refusing."""
    allow_stale_specs: bool = False
    """Apply a saved plan although the specs on disk changed since it was made (otherwise refused)."""


async def launch(
    s: Settings,
    saved: Plan | None = None,
    planfile: Path | None = None,
    options: ApplyOptions | None = None,
    hooks: ApplyHooks | None = None,
) -> Launched:
    """Apply one plan object: ``saved`` (read from ``planfile``) as it is, or one made now; nothing compiles
    after it. The same plan's apply already running is re-attached; a different one is refused."""
    from modelplane.runtime import approvals
    from modelplane.runtime.settings import open_store
    from modelplane.runtime.temporal.client import ApplyHandle, client_for, existing_client

    hooks, options = hooks or ApplyHooks(), options or ApplyOptions()
    store = open_store(s.root, s.state)
    existing = await existing_client(s)
    if existing is not None:
        client, ep = existing
        running = await running_apply(client, s)
        if running is not None:
            # the specs' fingerprint is a scan's (file hashes): re-attaching compiles nothing
            same = (running.plan_id == saved.id) if saved is not None else (
                running.spec_fingerprint == scan(s.root, s.environment).fingerprint
            )  # fmt: skip
            if not same:
                raise refuse_concurrent(s, running)
            hooks.note(f"re-attaching to the running apply of plan {running.plan_id} on {s.environment}")
            return Launched(ApplyHandle(workflow_handle(client, s), ep, s, running.plan_id, reattached=True))
    if saved is not None:
        where = planfile or f"plan {saved.id}"
        if planfile is None and saved.execution is not None and not saved.execution.seal:
            # a Plan object made in this process (the Python API): its caller holds the store's key anyway
            saved = seal_plan(s, saved, store)
        notes = check_saved(saved, where, s, store, options.allow_stale_specs)
        try:
            check_seal(saved, where, store)
        except PlanError as exc:  # the audit trail keeps who tried to apply an edited plan
            detail = {"plan_id": saved.id, "plan": str(where), "why": str(exc)}
            store.audit_add(s.environment, requested_by(), "refused", detail)
            raise
        for note in notes:
            hooks.note(note)
    plan = saved if saved is not None else await asyncio.to_thread(fresh_plan, s, store)
    hooks.show_plan(plan)
    if not plan.actions and not plan.changes and not plan.moved:
        return Launched(None, plan)
    for approval in await approvals.wait_for(s, plan, store, options.wait_approvals):
        hooks.note(f"approved for {approval.owner} by {approval.by} ({approval.via})")
    if not options.auto_approve and not hooks.confirm(plan):
        return Launched(None, plan, cancelled=True)
    par, auto = options.parallelism, options.auto_approve
    inp = apply_input(
        plan, s, par, auto, apply_id=store.next_apply_id(), store_id=store.store_id(), key=store.mac_key()
    )
    if existing is None:
        client, ep = await client_for(s)
    handle = await start(client, s, inp)
    return Launched(ApplyHandle(handle, ep, s, inp.plan_id, inp.apply_id), plan)


def close_ended_applies(s: Settings, rows: list[HistoryEntry], timeout_s: float = 5.0) -> bool:
    """Record the ending of "running" applies in ``rows`` whose workflow was closed on the server (terminated,
    timed out): the workflow never writes it. Asks only a server already running and gives up quietly after
    ``timeout_s`` (False: nothing recorded)."""
    from modelplane.runtime.temporal.client import connect
    from modelplane.runtime.temporal.watch import close_ended

    async def check() -> bool:
        client, _ = await connect(s, start=False)
        return await close_ended(client, s, rows)

    try:
        return bool(asyncio.run(asyncio.wait_for(check(), timeout_s)))
    except Exception:  # no server, no connection, no answer: the rows stay as the state has them
        return False
