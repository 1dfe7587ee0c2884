"""From a plan to a running ``ApplyPlan`` workflow: freshness checks, the lock, start or re-attach.

A saved plan is applied only if it is still true: it was made against the
applied state (not a git ref), for this environment, at the state serial the
store is at now, from the specs on disk now. Otherwise it is refused as stale,
naming what changed since.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelplane.compiler.compile import PlanResult, make_plan
from modelplane.compiler.engine import revision_id
from modelplane.compiler.errors import Diagnostic, ModelplaneError, PlanError
from modelplane.compiler.graph import LineageGraph
from modelplane.compiler.planfile import Plan
from modelplane.runtime.connection import Settings
from modelplane.runtime.messages import ActionSpec, ApplyInput, NodeRecord
from modelplane.runtime.state_backend import StateReader
from modelplane.specs.base import NodeId
from modelplane.specs.common import duration_seconds


def load_plan_file(path: Path) -> Plan:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanError(Diagnostic("plan-unreadable", f"cannot read plan {path}: {exc.strerror}")) from None
    try:
        return Plan.model_validate_json(text)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise PlanError(
            Diagnostic(
                "plan-invalid",
                f"{path} is not a modelplane plan (format_version 1): {first}",
                hint="make one with `modelplane plan --out FILE`",
            )
        ) from None


def fresh_plan(s: Settings, store: StateReader) -> PlanResult:
    result = make_plan(s.root, s.environment, state=store)
    if result.errors:
        from modelplane.compiler.errors import GraphError

        raise GraphError(result.errors)
    return result


def check_saved(saved: Plan, path: Path, s: Settings, store: StateReader, current: PlanResult) -> None:
    """Refuse a saved plan that no longer describes what apply would do."""
    problems = []
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
    elif saved.spec_fingerprint != current.plan.spec_fingerprint:
        changed_nodes = sorted(
            c.id for c in current.plan.changes if c.id not in {x.id for x in saved.changes}
        ) or sorted({c.id for c in saved.changes} ^ {c.id for c in current.plan.changes})
        problems.append(
            Diagnostic(
                "plan-stale",
                f"{path} is stale: the specs changed since it was made"
                + (f" ({', '.join(changed_nodes[:10])})" if changed_nodes else ""),
                hint=f"plan again: `modelplane plan --env {s.environment} --out {path}`",
            )
        )
    if problems:
        raise PlanError(problems)


def requested_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def apply_input(plan: Plan, result: PlanResult, parallelism: int, auto_approve: bool) -> ApplyInput:
    head = result.head.graph
    base = result.base
    actions = [
        _action_spec(a.id, a.type, a.target, a.depends_on, a.reason, a.details, head, base) for a in plan.actions
    ]
    by_target: dict[str, list[str]] = {}
    for a in plan.actions:
        by_target.setdefault(a.target.split("@", 1)[0], []).append(a.id)
    records = []
    for c in plan.changes:
        nid = NodeId.parse(c.id)
        waits = by_target.get(c.id, [])
        if c.change == "delete":
            records.append(NodeRecord(id=c.id, op="delete", kind=c.kind, waits_for=waits))
        else:
            node = head.nodes[nid]
            records.append(
                NodeRecord(
                    id=c.id,
                    op="upsert",
                    kind=node.kind,
                    file=node.file,
                    index=node.index,
                    data=node.data,
                    waits_for=waits,
                )
            )
    return ApplyInput(
        apply_id=plan.id,
        project=plan.project,
        environment=plan.environment,
        plan_id=plan.id,
        spec_fingerprint=plan.spec_fingerprint,
        requested_by=requested_by(),
        actions=actions,
        records=records,
        parallelism=parallelism,
        auto_approve=auto_approve,
    )


def _action_spec(
    aid: str,
    type_: str,
    target: str,
    depends_on: list[str],
    reason: str,
    details: dict[str, Any],
    head: LineageGraph,
    base: LineageGraph,
) -> ActionSpec:
    """Attach the documents an executor reads, so activities never recompile the specs."""
    node_part, _, at = target.partition("@")
    details = dict(details)
    node_doc = None
    context: dict[str, dict[str, Any]] = {}
    try:
        nid = NodeId.parse(node_part)
    except ValueError:
        nid = None
    if nid is not None and nid.kind != "owner":
        deleted = type_ == "decommission" and (nid not in head.nodes or at)
        graph = base if deleted else head
        node = graph.nodes.get(nid)
        if node is not None:
            node_doc = node.data
            spec = node.spec
            if "timeout" in spec:
                details["timeout_s"] = duration_seconds(spec["timeout"])
            if node.kind == "Endpoint":
                stack = at.split("/", 1)[1] if at else spec["stack"]
                details["stack"] = stack
                for ref in (NodeId("stack", stack), NodeId("model", spec["model"])):
                    doc = graph.nodes.get(ref) or base.nodes.get(ref)
                    if doc is not None:
                        context[str(ref)] = doc.data
                model_doc = context.get(f"model/{spec['model']}", {})
                # a revision is what serves: the endpoint's spec and the model's (same specs, same revision)
                details["revision"] = revision_id(node.data, model_doc)
            elif node.kind == "Stack":
                details["stack"] = nid.name
                context[str(nid)] = node.data
            elif node.kind == "Evaluation":
                model = graph.nodes.get(NodeId("model", spec["model"]))
                if model is not None:
                    context[str(model.id)] = model.data
    return ActionSpec(
        id=aid,
        type=type_,
        target=target,
        depends_on=depends_on,
        reason=reason,
        details=details,
        node=node_doc,
        context=context,
    )


@dataclass
class Running:
    plan_id: str
    spec_fingerprint: str
    requested_by: str
    started: str
    run_id: str | None


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
    )


def refuse_concurrent(s: Settings, running: Running) -> ModelplaneError:
    return ModelplaneError(
        f"another apply is running on {s.project.name}/{s.environment}: plan {running.plan_id}, "
        f"started {running.started} by {running.requested_by} (workflow {s.workflow_id})",
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
            id=s.workflow_id,
            task_queue=s.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={"plan_id": inp.plan_id, "spec_fingerprint": inp.spec_fingerprint, "requested_by": inp.requested_by},
        )
    except WorkflowAlreadyStartedError:
        running = await running_apply(client, s)
        if running is not None and running.plan_id == inp.plan_id:
            return client.get_workflow_handle(s.workflow_id)
        if running is None:  # it finished in between: start again
            return await start(client, s, inp)
        raise refuse_concurrent(s, running) from None
