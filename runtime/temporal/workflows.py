"""Temporal workflows: ``ApplyPlan`` walks a plan's actions; ``EndpointRollout`` rolls out one endpoint.

Workflow code is replayed from history, so it only decides: it never reads
files, clocks or the network (those are activities). Actions run in the plan's
topological order, at most ``parallelism`` at a time; a failed action skips
what depends on it and lets independent branches finish. State is recorded
(through an activity) as actions finish, so whatever happens to this workflow
the state store says what really happened.

Activities are called through ``runtime.activity_defs`` (their names and types only), so the sandbox
never imports the modules that implement them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from modelplane.compiler.plan.model import NodeWrite
    from modelplane.runtime.analysis import StepVerdict, Verdict, judge
    from modelplane.runtime.temporal import activity_defs as defs
    from modelplane.runtime.temporal.messages import (
        FINISHED,
        INTENT_PREFIX,
        ActionInput,
        ActionOutput,
        ActionResult,
        ActionSpec,
        ActionState,
        ApplyInput,
        ApplyOutcome,
        Approval,
        Deployed,
        Gate,
        HistoryInput,
        ObserveWindow,
        PreflightInput,
        PreflightProblem,
        Progress,
        RecordInput,
        RevisionStep,
        RolloutInput,
        RolloutStatus,
        RolloutStep,
        RouterUp,
        ServingOp,
        ServingResult,
        SetWeights,
        StartRevision,
    )
    from modelplane.runtime.typed import RolloutPolicy, endpoint_spec, rollout_policy
    from modelplane.specs.common import duration_seconds
    from modelplane.specs.serving import EndpointSpec
    from modelplane.stacks.engine import trained_revision

S = TypeVar("S", bound=RolloutStep)

# user errors are raised non-retryable by the activities; these retries are for crashes and flaky infrastructure
ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=10,
)
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(seconds=2))
HEARTBEAT = timedelta(seconds=3)
"""A worker that dies mid-action is noticed this long after its last heartbeat, and the action retried."""


TYPED_STEPS = "typed-rollout-steps"
"""The patch after which a rollout calls one typed activity per step (``rollout_start``, ...). A rollout
an earlier build started ran every step as the one ``serving_op``; it replays and finishes through it."""

NOISE_GATES = "canary-noise-gates"
"""The patch after which a rollout judges latency with the rank test, re-checks failed windows as
``failure_limit`` says and enforces ``progress_deadline``. A rollout an earlier build started judges and
rolls back as it did (its history replays only that way)."""

TRAINED_ARTIFACT = "trained-artifact"
"""The patch after which an action with ``details.trained_by`` (the model's register, its evaluations, its
endpoints' rollouts after a retrain) gets the artifact that run reported (``ActionInput.trained``), and a
rollout's revision covers its digest (``stacks.engine.trained_revision``). Applies recorded before it carry no
such action; the marker keeps their replays on the path they took."""

FIRST_DEPLOY_STATUS = "first-deploy-status"
"""The patch after which a first deploy (no stable revision) reports itself as one, at 100% from the start,
and reports its promotion: before, the live view and `status` showed `step 1/3 weight 0% starting` to the end.
Rollouts recorded before it replay without those reports."""

STEP_HEARTBEAT = timedelta(seconds=10)
"""Rollout steps other than wait_ready may block their event loop briefly (a router starting), so a longer one."""


def action_timeout(action: ActionSpec) -> timedelta:
    return timedelta(seconds=float(3600 if action.details.timeout_s is None else action.details.timeout_s) + 60)


def _root_cause(exc: BaseException) -> BaseException:
    """The activity's own error, not the wrappers that say 'activity failed' / 'child workflow failed'."""
    cause: BaseException = exc
    while isinstance(cause, (ActivityError, ChildWorkflowError)) and cause.cause is not None:
        cause = cause.cause
    return cause


def failure_message(exc: BaseException) -> str:
    cause = _root_cause(exc)
    return cause.message if isinstance(cause, FailureError) else str(cause)


def failure_details(exc: BaseException) -> dict[str, Any]:
    """What a failing executor attached (an evaluation's metrics, a log path)."""
    cause = _root_cause(exc)
    if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], dict):
        return dict(cause.details[0])
    return {}


def rollout_workflow_id(parent_id: str, apply_id: str, target: str) -> str:
    return f"{parent_id}/{apply_id}/{target}"


@dataclass
class ApplyState:
    """What an ApplyPlan run knows, in one place: queries read it, signals and updates change it, and the
    main loop walks the DAG with it. Rebuilt from the input's ``results``/``recorded`` on continue-as-new."""

    results: dict[str, ActionResult]
    """Action id -> its state and output, for every action of the plan."""
    recorded: list[str]
    """Node records the store holds already (what a resumed run does not write again)."""
    started_at: datetime | None
    unflushed: list[str] = field(default_factory=list)
    """Finished actions whose outcome waits for the next ``record_state``."""
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    rollouts: dict[str, RolloutStatus] = field(default_factory=dict)
    paused: bool = False
    abort_reason: str | None = None
    dirty: bool = False
    """Something changed (an action ended, a signal came): the main loop wakes and looks again."""
    final: str | None = None
    preflight: list[PreflightProblem] = field(default_factory=list)


@workflow.defn(name="ApplyPlan")  # pinned to its build by the worker (runtime.worker)
class ApplyPlanWorkflow:
    @workflow.init
    def __init__(self, inp: ApplyInput) -> None:
        self._inp = inp
        self._st = ApplyState(
            results={a.id: inp.results.get(a.id, ActionResult()) for a in inp.actions},
            recorded=list(inp.recorded),
            started_at=inp.started_at,
        )

    # -- queries, signals, updates ------------------------------------------------------------

    @workflow.query
    def progress(self) -> Progress:
        state = self._st.final or ("aborting" if self._st.abort_reason else "paused" if self._st.paused else "running")
        return Progress(
            apply_id=self._inp.apply_id,
            plan_id=self._inp.plan_id,
            environment=self._inp.environment,
            state=state,
            started_at=self._st.started_at,
            actions=self._st.results,
            order=[a.id for a in self._inp.actions],
            gates=list(self._st.gates.values()),
            rollouts=dict(self._st.rollouts),
            abort_reason=self._st.abort_reason,
            preflight=self._st.preflight,
        )

    @workflow.signal
    def pause(self) -> None:
        self._st.paused = True
        self._st.dirty = True

    @workflow.signal
    def resume(self) -> None:
        self._st.paused = False
        self._st.dirty = True

    @workflow.signal
    async def abort(self, reason: str) -> None:
        if self._st.abort_reason is not None:
            return
        self._st.abort_reason = reason or "aborted"
        self._st.dirty = True
        wf_id = workflow.info().workflow_id
        for aid, task in list(self._st.tasks.items()):
            action = self._action(aid)
            if action.type == "rollout":
                # the rollout rolls itself back (canary to weight 0, torn down) and then ends
                child = workflow.get_external_workflow_handle(
                    rollout_workflow_id(wf_id, self._inp.apply_id, action.target)
                )
                await child.signal(EndpointRolloutWorkflow.abort, self._st.abort_reason)
            else:
                task.cancel()

    @workflow.signal
    def gate_waiting(self, gate: Gate) -> None:
        self._st.gates[gate.target] = gate

    @workflow.signal
    def gate_cleared(self, target: str) -> None:
        self._st.gates.pop(target, None)

    @workflow.signal
    def rollout_status(self, status: RolloutStatus) -> None:
        self._st.rollouts[status.target] = status

    @workflow.update
    async def approve(self, approval: Approval) -> list[str]:
        wf_id = workflow.info().workflow_id
        targets = [t for t in list(self._st.gates) if approval.target in (None, t)]
        for target in targets:
            self._st.gates.pop(target, None)
            child = workflow.get_external_workflow_handle(rollout_workflow_id(wf_id, self._inp.apply_id, target))
            await child.signal(EndpointRolloutWorkflow.approve, approval)
        return targets

    @approve.validator
    def _check_approve(self, approval: Approval) -> None:
        if not self._st.gates:
            raise ValueError("nothing is waiting for approval in this apply")
        if approval.target is not None and approval.target not in self._st.gates:
            raise ValueError(
                f"{approval.target} is not waiting for approval; waiting: {', '.join(sorted(self._st.gates))}"
            )

    # -- the walk ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ApplyInput) -> ApplyOutcome:
        if self._st.started_at is None:
            self._st.started_at = workflow.now()
            await self._history("running")
            # applies started before the preflight existed replay without it
            if workflow.patched("preflight") and await self._run_preflight():
                return await self._refused()
            # write-ahead: every action is pending until it succeeds, so an apply that dies without
            # finishing (terminated, timed out, reset) leaves its work in the state for the next plan
            if workflow.patched("intents"):
                await self._record_intents()
        actions = inp.actions
        by_id = {a.id: a for a in actions}
        draining = False
        await self._flush()
        while True:
            for a in actions:
                r = self._st.results[a.id]
                if r.state != "pending":
                    continue
                if self._st.abort_reason is not None:
                    self._finish(a.id, "skipped", f"not run: apply aborted ({self._st.abort_reason})")
                    continue
                blocked = [d for d in a.depends_on if self._st.results[d].state in ("failed", "skipped")]
                if blocked and all(self._st.results[d].state in FINISHED for d in a.depends_on):
                    # decided once every dependency is done, so the reason names all of the blockers
                    why = ", ".join(f"{d} {self._st.results[d].state}" for d in blocked)
                    self._finish(a.id, "skipped", f"skipped: {why}")
                    continue
                if any(self._st.results[d].state != "succeeded" for d in a.depends_on):
                    continue
                if self._st.paused or draining or len(self._st.tasks) >= inp.parallelism:
                    continue
                r.state = "running"
                r.started_at = workflow.now()
                self._st.tasks[a.id] = asyncio.create_task(self._execute(by_id[a.id]))
            if self._st.unflushed:
                await self._flush()
                continue  # flushing took time: actions may have finished meanwhile
            if not self._st.tasks and all(r.state in FINISHED for r in self._st.results.values()):
                break
            if not draining and self._history_long():
                draining = True
            if draining and not self._st.tasks:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    inp.model_copy(
                        update={
                            "results": self._st.results,
                            "recorded": self._st.recorded,
                            "started_at": self._st.started_at,
                        }
                    )
                )
            self._st.dirty = False
            await workflow.wait_condition(lambda: self._st.dirty)

        outcome = (
            "aborted"
            if self._st.abort_reason is not None
            else "failed"
            if any(r.state != "succeeded" for r in self._st.results.values())
            else "succeeded"
        )
        self._st.final = outcome
        await self._history(outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ApplyOutcome(apply_id=inp.apply_id, state=outcome, actions=self._st.results)

    async def _run_preflight(self) -> bool:
        """Check every prerequisite the plan's provisioners need, before any side effect; True if one is missing."""
        inp = self._inp
        problems: list[PreflightProblem] = await workflow.execute_activity(
            defs.preflight,
            PreflightInput(
                environment=inp.environment,
                actions=inp.actions,
                apply_id=inp.apply_id,
                requested_by=inp.requested_by,
                workflow_id=workflow.info().workflow_id,
                apply=inp,  # its MAC is checked before anything else (an activity input: replays unchanged)
                **self._where(),
            ),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=BOOKKEEPING_RETRY,
        )
        self._st.preflight = problems
        return bool(problems)

    async def _refused(self) -> ApplyOutcome:
        """Nothing ran: every action is left not run, the state is not written (no action changed anything)."""
        why = (
            "not run: the preflight found missing prerequisites (" + "; ".join(p.what for p in self._st.preflight) + ")"
        )
        now = workflow.now()
        for r in self._st.results.values():
            r.state, r.error, r.finished_at = "skipped", why, now
        self._st.final = "failed"
        await self._history("failed", {"preflight": "\n".join(f"{p.what} ({p.hint})" for p in self._st.preflight)})
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ApplyOutcome(apply_id=self._inp.apply_id, state="failed", actions=self._st.results)

    def _where(self) -> dict[str, Any]:
        """Where effects land: the apply's project root and state store, not the worker's directory."""
        where = {"root": self._inp.root, "state": self._inp.state, "store_id": self._inp.store_id}
        # data only: the inputs of applies recorded before lineage existed carry None and send nothing
        return {**where, "lineage": self._inp.lineage} if self._inp.lineage is not None else where

    def _history_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self._inp.history_limit

    def _action(self, aid: str) -> ActionSpec:
        return next(a for a in self._inp.actions if a.id == aid)

    def _finish(self, aid: str, state: ActionState, error: str | None = None) -> None:
        r = self._st.results[aid]
        r.state = state
        r.error = error
        r.finished_at = workflow.now()
        self._st.unflushed.append(aid)
        self._st.dirty = True

    async def _execute(self, action: ActionSpec) -> None:
        inp = self._inp
        wf_id = workflow.info().workflow_id
        key = f"{wf_id}/{inp.apply_id}/{action.id}"
        trained = self._trained(action)
        try:
            if action.type == "rollout":
                out: ActionOutput = await workflow.execute_child_workflow(
                    "EndpointRollout",
                    RolloutInput(
                        key=key,
                        apply_id=inp.apply_id,
                        environment=inp.environment,
                        action=action,
                        parent_id=wf_id,
                        **trained,
                        **self._where(),
                    ),
                    id=rollout_workflow_id(wf_id, inp.apply_id, action.target),
                    result_type=ActionOutput,
                )
            else:
                out = await workflow.execute_activity(
                    defs.execute_action,
                    ActionInput(
                        key=key,
                        apply_id=inp.apply_id,
                        environment=inp.environment,
                        action=action,
                        **trained,
                        **self._where(),
                    ),
                    start_to_close_timeout=action_timeout(action),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=ACTION_RETRY,
                )
        except asyncio.CancelledError:
            self._finish(action.id, "skipped", f"cancelled: apply aborted ({self._st.abort_reason})")
        except (ActivityError, ChildWorkflowError) as exc:
            self._st.results[action.id].output = failure_details(exc)
            self._finish(action.id, "failed", failure_message(exc))
        else:
            self._st.results[action.id].output = out.output
            self._st.results[action.id].attempts = int(out.output.get("attempt", 1))
            self._finish(action.id, "succeeded")
        finally:
            self._st.tasks.pop(action.id, None)

    def _trained(self, action: ActionSpec) -> dict[str, Any]:
        """``{"trained": artifact}`` for an action that follows a retrain in this apply (``details.trained_by``):
        what that run reported; ``{}`` for any other (the input as earlier builds made it)."""
        run = action.details.trained_by
        if not run or run not in self._st.results or not workflow.patched(TRAINED_ARTIFACT):
            return {}
        artifact = self._st.results[run].output.get("artifact")
        return {"trained": artifact} if isinstance(artifact, dict) else {}

    async def _flush(self) -> None:
        """Write what finished since the last flush, and every node whose actions have all succeeded."""
        finished, self._st.unflushed = self._st.unflushed, []
        ready = [rec for rec in self._inp.records if rec.id not in self._st.recorded and self._ready(rec)]
        if not finished and not ready:
            return
        done = {a: self._st.results[a].output for a in finished if self._st.results[a].state == "succeeded"}
        pending = {a: self._st.results[a].error or self._st.results[a].state for a in finished if a not in done}
        # data only (no new command): replays of earlier histories are unaffected
        failed = {a: self._st.results[a].output or {} for a in pending if self._st.results[a].state == "failed"}
        await workflow.execute_activity(
            defs.record_state,
            RecordInput(
                apply_id=self._inp.apply_id,
                environment=self._inp.environment,
                records=ready,
                done=done,
                pending=pending,
                failed=failed,
                **self._where(),
            ),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=BOOKKEEPING_RETRY,
        )
        self._st.recorded.extend(rec.id for rec in ready)

    async def _record_intents(self) -> None:
        todo = [a for a in self._inp.actions if self._st.results[a.id].state == "pending"]
        if not todo:
            return
        since = self._st.started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if self._st.started_at else "?"
        reason = f"{INTENT_PREFIX} {self._inp.apply_id} (started {since}) and not finished by it"
        await workflow.execute_activity(
            defs.record_state,
            RecordInput(
                apply_id=self._inp.apply_id,
                environment=self._inp.environment,
                records=[],
                done={},
                pending={a.id: reason for a in todo},
                **self._where(),
            ),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=BOOKKEEPING_RETRY,
        )

    def _ready(self, rec: NodeWrite) -> bool:
        return all(self._st.results[a].state == "succeeded" for a in rec.waits_for if a in self._st.results)

    async def _history(self, outcome: str, failures: dict[str, str] | None = None) -> None:
        await workflow.execute_activity(
            defs.record_history,
            HistoryInput(
                apply_id=self._inp.apply_id,
                environment=self._inp.environment,
                plan_id=self._inp.plan_id,
                workflow_id=workflow.info().workflow_id,
                requested_by=self._inp.requested_by,
                outcome=outcome,
                summary=self._counts(),
                failures=failures
                if failures is not None
                else {a: r.error or "" for a, r in self._st.results.items() if r.state == "failed"},
                **self._where(),
            ),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=BOOKKEEPING_RETRY,
        )

    def _counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self._st.results.values():
            out[r.state] = out.get(r.state, 0) + 1
        return out


@workflow.defn(name="EndpointRollout")
class EndpointRolloutWorkflow:
    """One endpoint's rollout: start the new revision, canary steps with analysis gates, promote or roll back.

    First deployment: no canary, just readiness. Otherwise for each step of the
    spec: set the weight, hold for the pause (a duration, or ``manual`` = wait
    for ``approve``), then judge the window (``runtime.analysis``). A failed gate
    or an abort sets the canary's weight to 0, tears it down and fails with the
    reason; stable keeps serving throughout. Every step is an idempotent
    activity, so a crash resumes the same step without duplicating replicas.
    """

    @workflow.init
    def __init__(self, inp: RolloutInput) -> None:
        self._inp = inp
        self._approved = False
        self._abort_reason: str | None = None
        self._step = -1
        self._policy: RolloutPolicy | None = None
        self._replicas = 0
        self._last: StepVerdict | None = None
        self._observe_error: str | None = None
        self._tests = False
        """Whether this run has the NOISE_GATES patch (decided once, at its start)."""

    @workflow.signal
    def approve(self, approval: Approval) -> None:
        self._approved = True

    @workflow.signal
    def abort(self, reason: str) -> None:
        self._abort_reason = reason or "aborted"

    @workflow.query
    def step(self) -> int:
        return self._step

    def _input(self, takes: type[S], **fields: Any) -> S:
        # the rollout's store_id goes along too: a step writes nothing to a store that is not the apply's
        return takes(**self._inp.action_fields(), **fields)

    @staticmethod
    def _call(
        step: Callable[[S], Awaitable[ServingResult]], inp: S
    ) -> tuple[Callable[[Any], Awaitable[ServingResult]], ActionInput]:
        """The activity to run a step with: its own, or where this rollout began before the typed steps, the
        one ``serving_op`` with the step named in ``op`` (its history replays only that way)."""
        if workflow.patched(TYPED_STEPS):
            return step, inp
        return defs.serving_op, ServingOp.of(step.__name__.removeprefix("rollout_"), inp)

    async def _run_step(
        self, step: Callable[[S], Awaitable[ServingResult]], inp: S, slow: bool = False
    ) -> dict[str, Any]:
        """One rollout step; ``slow``: one that waits on replicas starting (longer timeout, tighter heartbeat)."""
        activity, arg = self._call(step, inp)
        res = await workflow.execute_activity(
            activity,
            arg,
            start_to_close_timeout=timedelta(minutes=15 if slow else 2),
            # every step heartbeats (a crashed worker's step is retried in seconds); the quick ones block a little
            heartbeat_timeout=HEARTBEAT if slow else STEP_HEARTBEAT,
            retry_policy=ACTION_RETRY,
        )
        return res.data

    async def _observe(self, window: float, need: int, synthesize: bool, revisions: list[str]) -> dict[str, Any] | None:
        """One analysis window (synthetic traffic topping it up where allowed); None when aborted meanwhile."""
        inp = self._input(ObserveWindow, window_s=window, need=need, synthesize=synthesize, revisions=revisions)
        activity, arg = self._call(defs.rollout_observe, inp)
        handle = workflow.start_activity(
            activity,
            arg,
            start_to_close_timeout=timedelta(seconds=window + 120),
            heartbeat_timeout=STEP_HEARTBEAT,
            retry_policy=ACTION_RETRY,
            # the rollback waits until the synthetic traffic has really stopped
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: handle.done() or self._abort_reason is not None)
        if not handle.done():
            handle.cancel()  # the synthetic traffic stops with the step, before the rollback
            with contextlib.suppress(ActivityError, asyncio.CancelledError):
                await handle
            return None
        try:
            res: ServingResult = await handle
        except ActivityError as exc:
            # the window could not be observed (the router gone, a prompt file unreadable): the canary must
            # not stay at its weight; the caller rolls back with the reason
            self._observe_error = failure_message(exc)
            return None
        return res.data

    async def _report(self, step: int, weight: int, phase: str, **fields: Any) -> None:
        """Tell the apply where this rollout is (the live view and `status` show it)."""
        policy = self._policy
        if policy is None:
            return
        status = RolloutStatus(
            target=self._inp.action.target,
            step=step,
            steps=len(policy.steps),
            weight=weight,
            phase=phase,
            since=workflow.now(),
            window_s=policy.window_s,
            replicas=self._replicas,
            verdict=dict(self._last) if self._last is not None else None,
            **fields,
        )
        parent = workflow.get_external_workflow_handle(self._inp.parent_id)
        await parent.signal(ApplyPlanWorkflow.rollout_status, status)

    @workflow.run
    async def run(self, inp: RolloutInput) -> ActionOutput:
        action = inp.action
        # typed, with every default filled in: an endpoint without `rollout:` gets the model's canary
        spec = endpoint_spec(action.node)
        policy = self._policy = rollout_policy(action.node, action.context)
        self._tests = workflow.patched(NOISE_GATES)
        revision = self._revision(inp)
        # the trained weights it serves (this apply's, or the plan's registered ones): the history shows which went
        # out, and the next plan reads from it what each endpoint serves (compiler.plan.artifacts)
        digest = inp.trained.get("digest") if inp.trained else (action.details.artifact or {}).get("digest")
        trained = {"artifact": str(digest)} if digest else {}
        stable = Deployed.model_validate(await self._run_step(defs.rollout_inspect, self._input(RolloutStep))).stable
        router = RouterUp.model_validate(await self._run_step(defs.rollout_router, self._input(RolloutStep)))
        if stable is not None and stable == revision and self._tests and action.details.in_place:
            # only in-place fields changed: the router step above took the new routing and autoscaling settings
            # (local); setting stable's weight again re-applies the stack's routing objects (Kubernetes: the HPA
            # and Envoy), with no new replicas
            await self._run_step(defs.rollout_weights, self._input(SetWeights, weights={stable: 100}))
            return ActionOutput(output={"revision": revision, "url": router.url, "in_place": True})
        if stable == revision:  # already serving this revision (e.g. resumed after the promotion)
            return ActionOutput(output={"revision": revision, "url": router.url, "unchanged": True, **trained})
        self._replicas = policy.min_replicas
        # a first deploy has nothing to canary against: it starts the revision and promotes it (no steps)
        first = stable is None and workflow.patched(FIRST_DEPLOY_STATUS)
        await self._report(0, 100 if first else 0, "starting", **({"first": True} if first else {}))
        await self._run_step(defs.rollout_start, self._input(StartRevision, revision=revision, replicas=self._replicas))
        await self._ready(stable, revision, [])
        if stable is None:
            promoted = await self._run_step(defs.rollout_promote, self._input(RevisionStep, revision=revision))
            if first:
                await self._report(0, 100, "promoted", first=True)
            return ActionOutput(output={"revision": revision, "url": router.url, "first": True, **trained, **promoted})

        window = policy.window_s
        verdicts: list[StepVerdict] = []
        for i, step in enumerate(policy.steps):
            self._step = i
            weight = step.weight
            await self._scale_for(i, weight, stable, revision, verdicts)
            await self._run_step(
                defs.rollout_weights, self._input(SetWeights, weights={stable: 100 - weight, revision: weight})
            )
            if step.pause == "manual":
                await self._report(i, weight, "waiting")
                await self._gate(i, "manual pause")
            elif step.pause:
                await self._report(i, weight, "pause")
                await self._hold(duration_seconds(step.pause))
            if self._abort_reason is not None:
                await self._rollback(stable, revision, f"aborted: {self._abort_reason}", verdicts)
            if not step.analysis or weight == 0:
                continue
            if self._tests:
                await self._analyse(spec, i, weight, stable, revision, verdicts)
                continue
            for attempt in range(policy.inconclusive_limit + 1):
                await self._report(i, weight, "analysis")
                stats = await self._observe(window, policy.need, policy.when_idle == "synthesize", [revision, stable])
                if self._observe_error is not None:
                    await self._report(i, weight, "rolled back")
                    why = f"step {i + 1} (weight {weight}%): the window could not be observed: {self._observe_error}"
                    await self._rollback(stable, revision, why, verdicts)
                if stats is None or self._abort_reason is not None:
                    await self._rollback(stable, revision, f"aborted: {self._abort_reason}", verdicts)
                    return ActionOutput(output={})  # not reached: _rollback raises
                v = judge(spec, stats.get(revision, {}), stats.get(stable), weight)
                self._last = v.at(i, weight)
                verdicts.append(self._last)
                if v.result == "pass":
                    break
                if v.result == "fail":
                    await self._report(i, weight, "rolled back")
                    await self._rollback(stable, revision, f"step {i + 1} (weight {weight}%): {v.reason}", verdicts)
                if attempt < policy.inconclusive_limit:
                    continue
                why = f"step {i + 1} inconclusive after {attempt + 1} window(s): {v.reason}"
                idle = policy.when_idle if v.gate == "sample" else None
                if idle == "pass":
                    self._last = {**self._last, "result": "pass", "gate": "idle",
                                  "reason": f"{v.reason}; passed without data (analysis.when_idle: pass)"}  # fmt: skip
                    verdicts.append(self._last)
                    break
                if idle == "hold" or (idle != "fail" and policy.on_failure == "pause"):
                    await self._report(i, weight, "waiting")
                    policy_name = "analysis.when_idle: hold" if idle == "hold" else "on_failure: pause"
                    await self._gate(i, f"{why} ({policy_name})")
                    if self._abort_reason is not None:
                        await self._rollback(stable, revision, f"aborted: {self._abort_reason}", verdicts)
                    self._last = {**self._last, "result": "pass", "gate": "approved",
                                  "reason": f"{v.reason}; approved without data"}  # fmt: skip
                    verdicts.append(self._last)
                    break
                await self._report(i, weight, "rolled back")
                suffix = " (analysis.when_idle: fail)" if idle == "fail" else ""
                await self._rollback(stable, revision, why + suffix, verdicts)
        await self._report(len(policy.steps) - 1, 100, "promoting")
        promoted = await self._run_step(defs.rollout_promote, self._input(RevisionStep, revision=revision))
        await self._report(len(policy.steps) - 1, 100, "promoted")
        return ActionOutput(
            output={
                "revision": revision,
                "previous": stable,
                "url": router.url,
                "analysis": verdicts,
                **trained,
                **promoted,
            }
        )

    @staticmethod
    def _revision(inp: RolloutInput) -> str:
        """The plan's revision; after a retrain in this apply, the one serving the artifact it trained (its
        digest known only now, from the training step)."""
        revision = "r0" if inp.action.details.revision is None else inp.action.details.revision
        if not inp.action.details.trained_by or not workflow.patched(TRAINED_ARTIFACT):
            return revision
        if not inp.trained or not inp.trained.get("digest"):
            run = inp.action.details.trained_by.removeprefix("run-workflow:")
            raise ApplicationError(
                f"{inp.action.target}: {run} wrote no files to its output folder, so there is no trained artifact "
                "to roll out; stable keeps serving. Fix: write the trained weights (or a file naming them, e.g. "
                "their URI and checksum) under $MODELPLANE_OUTPUT_DIR and apply again",
                type="NoArtifact",
                non_retryable=True,
            )
        return trained_revision(revision, str(inp.trained["digest"]))

    async def _scale_for(self, i: int, weight: int, stable: str, revision: str, verdicts: list[StepVerdict]) -> None:
        """The capacity gate: the canary has the replicas its next weight needs before it takes it."""
        policy = self._policy
        assert policy is not None
        needed = policy.replicas_for(weight)
        if needed is None or needed <= self._replicas:
            return
        if needed > policy.max_replicas:
            self._last = {"step": i, "weight": weight, "gate": "capacity", "result": "fail",
                          "reason": policy.capacity_reason(weight, needed)}  # fmt: skip
            verdicts.append(self._last)
            await self._report(i, weight, "rolled back")
            await self._rollback(stable, revision, f"step {i + 1} (weight {weight}%): {self._last['reason']}", verdicts)
        await self._report(i, weight, "scaling")
        await self._run_step(defs.rollout_start, self._input(StartRevision, revision=revision, replicas=needed))
        await self._ready(stable, revision, verdicts)
        self._replicas = needed
        self._last = {"step": i, "weight": weight, "gate": "capacity", "result": "pass",
                      "reason": policy.capacity_reason(weight, needed)}  # fmt: skip
        verdicts.append(self._last)

    async def _ready(self, stable: str | None, revision: str, verdicts: list[StepVerdict]) -> None:
        """Wait for the canary's replicas; with NOISE_GATES, at most ``progress_deadline`` (retries included),
        after which a canary rolls back (a first deployment, with nothing to roll back to, fails)."""
        inp = self._input(RevisionStep, revision=revision)
        policy = self._policy
        if not self._tests or policy is None:
            await self._run_step(defs.rollout_wait_ready, inp, slow=True)
            return
        activity, arg = self._call(defs.rollout_wait_ready, inp)
        try:
            await workflow.execute_activity(
                activity,
                arg,
                start_to_close_timeout=timedelta(minutes=15),
                schedule_to_close_timeout=timedelta(seconds=policy.progress_deadline_s),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=ACTION_RETRY,
            )
        except ActivityError as exc:
            if stable is None:
                raise
            why = f"not ready within progress_deadline ({policy.progress_deadline_s:g} s): {failure_message(exc)}"
            await self._rollback(stable, revision, f"revision {revision} {why}", verdicts)

    async def _analyse(
        self, spec: EndpointSpec, i: int, weight: int, stable: str, revision: str, verdicts: list[StepVerdict]
    ) -> None:
        """One step's analysis windows until it passes (NOISE_GATES): a failed window is looked at again while
        ``failure_limit`` tolerates it, an inconclusive one up to ``inconclusive_limit`` times; none of it
        beyond ``progress_deadline``. Returns on a pass; rolls back (raises) or waits for approval otherwise."""
        policy = self._policy
        assert policy is not None
        started = workflow.now()
        failed = inconclusive = 0
        where = f"step {i + 1} (weight {weight}%)"
        while True:
            spent = (workflow.now() - started).total_seconds()
            if spent + policy.window_s > policy.progress_deadline_s:
                await self._report(i, weight, "rolled back")
                last = f"; last: {self._last['reason']}" if self._last and self._last.get("step") == i else ""
                why = f"{where}: no verdict within progress_deadline ({policy.progress_deadline_s:g} s){last}"
                await self._rollback(stable, revision, why, verdicts)
            await self._report(i, weight, "re-check" if failed else "analysis")
            stats = await self._observe(
                policy.window_s, policy.need, policy.when_idle == "synthesize", [revision, stable]
            )
            if self._observe_error is not None:
                await self._report(i, weight, "rolled back")
                why = f"{where}: the window could not be observed: {self._observe_error}"
                await self._rollback(stable, revision, why, verdicts)
            if stats is None or self._abort_reason is not None:
                await self._rollback(stable, revision, f"aborted: {self._abort_reason}", verdicts)
                return  # not reached: _rollback raises
            v = judge(spec, stats.get(revision, {}), stats.get(stable), weight, tests=True)
            self._last = v.at(i, weight, summary=True)
            verdicts.append(self._last)
            if v.result == "pass":
                return
            if v.result == "fail":
                failed += 1
                if policy.tolerates(failed, v.marginal):
                    continue
                await self._report(i, weight, "rolled back")
                again = f" ({failed} failed windows in a row)" if failed > 1 else ""
                await self._rollback(stable, revision, f"{where}: {v.reason}{again}", verdicts)
            inconclusive += 1
            if inconclusive <= policy.inconclusive_limit:
                continue
            await self._undecided(v, i, weight, stable, revision, verdicts, failed + inconclusive)
            return

    async def _undecided(
        self, v: Verdict, i: int, weight: int, stable: str, revision: str, verdicts: list[StepVerdict], windows: int
    ) -> None:
        """A step whose windows stayed inconclusive: ``when_idle`` (for a lack of requests) or ``on_failure``."""
        policy = self._policy
        assert policy is not None and self._last is not None
        why = f"step {i + 1} inconclusive after {windows} window(s): {v.reason}"
        idle = policy.when_idle if v.gate == "sample" else None
        if idle == "pass":
            self._last = {**self._last, "result": "pass", "gate": "idle",
                          "reason": f"{v.reason}; passed without data (analysis.when_idle: pass)"}  # fmt: skip
            verdicts.append(self._last)
            return
        if idle == "hold" or (idle != "fail" and policy.on_failure == "pause"):
            await self._report(i, weight, "waiting")
            policy_name = "analysis.when_idle: hold" if idle == "hold" else "on_failure: pause"
            await self._gate(i, f"{why} ({policy_name})")
            if self._abort_reason is not None:
                await self._rollback(stable, revision, f"aborted: {self._abort_reason}", verdicts)
            self._last = {**self._last, "result": "pass", "gate": "approved",
                          "reason": f"{v.reason}; approved without data"}  # fmt: skip
            verdicts.append(self._last)
            return
        await self._report(i, weight, "rolled back")
        suffix = " (analysis.when_idle: fail)" if idle == "fail" else ""
        await self._rollback(stable, revision, why + suffix, verdicts)

    async def _hold(self, seconds: float) -> None:
        """Sleep, but wake at once on abort."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._abort_reason is not None, timeout=timedelta(seconds=seconds))

    async def _gate(self, step: int, reason: str) -> None:
        parent = workflow.get_external_workflow_handle(self._inp.parent_id)
        target = self._inp.action.target
        await parent.signal(
            ApplyPlanWorkflow.gate_waiting, Gate(target=target, step=step, since=workflow.now(), reason=reason)
        )
        self._approved = False
        await workflow.wait_condition(lambda: self._approved or self._abort_reason is not None)
        await parent.signal(ApplyPlanWorkflow.gate_cleared, target)

    async def _rollback(self, stable: str, revision: str, reason: str, verdicts: list[StepVerdict]) -> None:
        await self._run_step(defs.rollout_weights, self._input(SetWeights, weights={stable: 100, revision: 0}))
        await self._run_step(defs.rollout_teardown, self._input(RevisionStep, revision=revision))
        raise ApplicationError(
            f"rolled back {self._inp.action.target} to {stable}: {reason}",
            {"rolled_back": True, "revision": revision, "stable": stable, "reason": reason, "analysis": verdicts},
            type="RolledBack",
            non_retryable=True,
        )
