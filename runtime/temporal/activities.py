"""Temporal activities: every effect of an apply happens here, keyed for idempotency.

``execute_action`` checks the ledger first: an action whose key (workflow id +
plan id + action id, never the run id) is already ``done`` returns the stored
result without doing anything again. That is what makes a retried attempt
after a worker crash, a replay or a continue-as-new safe.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from modelplane.compiler.plan.ids import ActionId
from modelplane.errors import ActionFailed
from modelplane.files import private_dir
from modelplane.runtime import provisioners
from modelplane.runtime.executors import Context, Effect, catalog, command, serving
from modelplane.runtime.lineage.emitter import emitter_for
from modelplane.runtime.lineage.events import RUN_ACTIONS, node_event, run_event
from modelplane.runtime.provisioners import Provisioner
from modelplane.runtime.state import Store
from modelplane.runtime.state.ports import EffectWrites, RunRow
from modelplane.runtime.temporal import guard, journal
from modelplane.runtime.temporal.messages import (
    ActionInput,
    ActionOutput,
    HistoryInput,
    PreflightInput,
    PreflightProblem,
    RecordInput,
    ServingOp,
    ServingResult,
    Where,
)

ExecutorFn = Callable[[Context, Any], Awaitable[Effect]]
EXECUTORS: dict[str, ExecutorFn] = {
    "register": catalog.register,
    "notify": catalog.notify,
    "run-workflow": command.run_workflow,
    "evaluate": command.evaluate,
    "provision": provisioners.provision,
    "decommission": provisioners.decommission,
}


async def _heartbeat_while_running() -> None:
    """Heartbeat every second, so a worker that dies mid-step is noticed in seconds, not at the step's timeout."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(1.0)


def run_dir(root: Path, apply_id: str, action_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", action_id)
    return root / ".modelplane" / "runs" / apply_id / safe


class Activities:
    def __init__(self, root: Path, stores: Callable[[str], Store]) -> None:
        self.root = root
        """The worker's directory: used only for inputs recorded before they carried the apply's root."""
        self.stores = stores
        """The state store of an environment, for inputs that do not say where it is."""
        self._opened: dict[tuple[str, str], Store] = {}
        self._keys: dict[str, bytes] = {}

    def key_of(self, store: Store) -> bytes:
        """The store's MAC key (read once per store: it never changes for a store id)."""
        sid = store.store_id()
        if sid not in self._keys:
            self._keys[sid] = store.mac_key()
        return self._keys[sid]

    def root_of(self, inp: Where) -> Path:
        return Path(inp.root) if inp.root else self.root

    def store_of(self, inp: Where, environment: str) -> Store:
        """The apply's own state store (from its input), so a worker outside the project writes the right one.

        Checked before every use: a SQLite file moved aside or replaced is opened again from its path (the
        worker never keeps writing a deleted file), and a store that is not the one the apply started on
        (another ``store_id``) is refused: nothing of this apply is recorded in it."""
        if inp.state is None:
            return self.stores(environment)
        from modelplane.runtime.settings import open_store

        key = (str(self.root_of(inp)), inp.state.model_dump_json())
        store = self._opened.get(key)
        if store is not None and not store.same_file():
            store.close()
            del self._opened[key]
            gone = getattr(store, "path", None)
            if inp.store_id and gone is not None and not Path(gone).exists():
                # moved aside or deleted mid-apply: say so, and leave no new empty state in its place
                raise ApplicationError(
                    f"the state store changed under this apply: {gone} (store {inp.store_id}) is gone; "
                    "nothing more of this apply is recorded",
                    {"hint": "put it back, or run `modelplane plan` and apply again to start on a new state"},
                    type="StoreChanged",
                    non_retryable=True,
                )
            store = None
        if store is None:
            store = self._opened[key] = open_store(self.root_of(inp), inp.state)
        if inp.store_id and store.store_id() != inp.store_id:
            raise ApplicationError(
                f"the state store changed under this apply: it started on store {inp.store_id}, and "
                f"{store.describe()} is now store {store.store_id()} (moved aside, replaced or restored?); "
                "nothing more of this apply is recorded there",
                {"hint": "run `modelplane plan` to see what the state now holds, then apply again"},
                type="StoreChanged",
                non_retryable=True,
            )
        return store

    @activity.defn(name="execute_action")
    async def execute_action(self, inp: ActionInput) -> ActionOutput:
        action = inp.action
        store = self.store_of(inp, inp.environment)
        guard.check_action(store, self.key_of(store), inp, "execute_action")
        root = self.root_of(inp)
        journalled = journal.path(root, inp.key)
        if (earlier := journal.read(journalled, inp.key)) is not None:
            # an earlier attempt ran it and could not write the ledger: finish that write, never run it again
            activity.logger.info("%s done by an earlier attempt (journal): recording it, not repeating it", action.id)
            await self._ledger_done(store, inp, earlier)
            journal.clear(journalled)
            return ActionOutput(output=earlier.output, replayed=True)
        entry = await journal.retrying(
            lambda: store.ledger_begin(inp.key, inp.environment, inp.apply_id, action.id), "the ledger entry"
        )
        if entry.status == "done":
            activity.logger.info("%s already done (ledger %s): not repeating it", action.id, inp.key)
            return ActionOutput(output=entry.result or {}, replayed=True)
        ctx = Context(
            root=root,
            environment=inp.environment,
            apply_id=inp.apply_id,
            key=inp.key,
            attempt=entry.attempts,
            run_dir=run_dir(root, inp.apply_id, action.id),
            trained=inp.trained,
        )
        private_dir(ctx.run_dir)
        self._run_event(inp, "START")
        try:
            effect = await EXECUTORS[action.type](ctx, action)
        except ActionFailed as exc:
            error = str(exc)
            await journal.retrying(lambda: store.ledger_failed(inp.key, error), "the ledger's failure")
            if not exc.retryable:
                self._run_event(inp, "FAIL", exc.details, str(exc))
            raise ApplicationError(
                str(exc), exc.details, type="ActionFailed", non_retryable=not exc.retryable
            ) from None
        self._run_event(inp, "COMPLETE", effect.output)
        outcome = journal.Outcome({**effect.output, "attempt": entry.attempts}, effect.writes or EffectWrites())
        journal.write(journalled, inp.key, outcome)  # first where no store outage can lose it
        await self._ledger_done(store, inp, outcome)
        journal.clear(journalled)
        return ActionOutput(output=outcome.output)

    async def _ledger_done(self, store: Store, inp: ActionInput, outcome: journal.Outcome) -> None:
        """The outcome into the ledger, retried with backoff while the store is down (the journal holds it)."""
        await journal.retrying(
            lambda: store.ledger_done(
                inp.key, outcome.output, environment=inp.environment, apply_id=inp.apply_id, writes=outcome.writes
            ),
            f"recording {inp.action.id} in the ledger",
        )

    async def _rollout(
        self, inp: ActionInput, step: Callable[[Provisioner, Context, Any], Awaitable[Any]]
    ) -> ServingResult:
        """A rollout step on the endpoint's stack; user problems are not retried."""
        store = self.store_of(inp, inp.environment)
        guard.check_action(store, self.key_of(store), inp, activity.info().activity_type)
        root = self.root_of(inp)
        ctx = Context(
            root=root,
            environment=inp.environment,
            apply_id=inp.apply_id,
            key=inp.key,
            attempt=activity.info().attempt,
            run_dir=run_dir(root, inp.apply_id, inp.action.id),
            trained=inp.trained,
        )
        beating = asyncio.create_task(_heartbeat_while_running())
        try:
            data = await step(provisioners.provisioner_for(inp.action), ctx, inp)
        except ActionFailed as exc:
            raise ApplicationError(
                str(exc), exc.details, type="ActionFailed", non_retryable=not exc.retryable
            ) from None
        finally:
            beating.cancel()
        return ServingResult(data=data)

    def _step_activity(self, op: str) -> Callable[..., Awaitable[ServingResult]]:
        """The activity ``rollout_<op>``: that step with its own input type (``serving.STEPS``)."""
        step, takes = serving.STEPS[op]

        async def run(inp: Any) -> ServingResult:
            if op == "inspect" and activity.info().attempt == 1:
                self._run_event(inp, "START")  # a rollout's first step: its run starts
            return await self._rollout(inp, step)

        run.__name__ = run.__qualname__ = f"rollout_{op}"
        run.__annotations__ = {"inp": takes, "return": ServingResult}
        return activity.defn(name=f"rollout_{op}")(run)

    @activity.defn(name="serving_op")
    async def serving_op(self, inp: ServingOp) -> ServingResult:
        """The one rollout activity of rollouts an earlier build started (``ServingOp``)."""
        return await self._rollout(inp, serving.run_op)

    @activity.defn(name="record_state")
    async def record_state(self, inp: RecordInput) -> int:
        upserts = [
            (r.id, r.kind, r.file, r.index, r.data or {})
            for r in inp.records
            if r.op == "upsert" and r.data is not None
        ]
        deletes = [r.id for r in inp.records if r.op == "delete"]
        pending = [(aid, a.type, str(a.target), why) for aid, why in inp.pending.items() for a in [ActionId.parse(aid)]]
        runs = [_run_row(aid, "succeeded", out) for aid, out in inp.done.items()]
        runs += [_run_row(aid, "failed", {**out, "error": inp.pending.get(aid, "")}) for aid, out in inp.failed.items()]
        serial = self.store_of(inp, inp.environment).record(
            inp.environment,
            inp.apply_id,
            upserts=upserts,
            deletes=deletes,
            done=list(inp.done),
            pending=pending,
            runs=[r for r in runs if r[1] not in UNRECORDED_RUNS],
            moves=[(r.moved_from, r.id) for r in inp.records if r.moved_from],
        )
        self._recorded_events(inp)
        return serial

    # -- OpenLineage out: events are queued for a background thread, never awaited (runtime/lineage/) --

    def _run_event(
        self, inp: ActionInput, state: str, output: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """A run's START/COMPLETE/FAIL, for the action types that are runs (workflow, evaluation, rollout)."""
        action = inp.action
        emitter = emitter_for(inp.lineage, self.root_of(inp))
        if emitter is None or action.type not in RUN_ACTIONS or inp.lineage is None:
            return
        ns = inp.lineage.namespace or f"modelplane://{inp.environment}"
        emitter.send(lambda: [run_event(ns, state, inp.key, action.type, action.target, action.node, output, error)])

    def _recorded_events(self, inp: RecordInput) -> None:
        """The nodes an apply just recorded (their declared lineage), and the rollouts that just ended
        (a rollout is a child workflow: its end reaches the state, and lineage, here)."""
        emitter = emitter_for(inp.lineage, self.root_of(inp))
        if emitter is None or inp.lineage is None:
            return
        ns = inp.lineage.namespace or f"modelplane://{inp.environment}"
        workflow_id = activity.info().workflow_id

        def build() -> list[Any]:
            events: list[Any] = [node_event(ns, r.id, r.data) for r in inp.records if r.op == "upsert" and r.data]
            for aid, out in [*inp.done.items(), *inp.failed.items()]:
                a = ActionId.parse(aid)
                if a.type != "rollout":
                    continue
                key = f"{workflow_id}/{inp.apply_id}/{aid}"
                ok = aid in inp.done
                error = None if ok else inp.pending.get(aid, "failed")
                events.append(run_event(ns, "COMPLETE" if ok else "FAIL", key, a.type, str(a.target), None, out, error))
            return events

        emitter.send(build)

    @activity.defn(name="record_history")
    async def record_history(self, inp: HistoryInput) -> None:
        store = self.store_of(inp, inp.environment)
        if inp.outcome == "running":
            store.history_begin(inp.apply_id, inp.environment, inp.plan_id, inp.workflow_id, inp.requested_by)
        else:
            row = store.history_of(inp.apply_id)
            if row is not None and row.workflow_id != inp.workflow_id:
                # another workflow's apply id (a refused, forged input naming a real apply): not its row to end
                return
            store.history_end(inp.apply_id, inp.outcome, inp.summary, inp.failures)
            store.lock_release(inp.environment, inp.apply_id)  # only ours: another apply's row stays

    @activity.defn(name="preflight")
    async def preflight(self, inp: PreflightInput) -> list[PreflightProblem]:
        """What the plan's provisioners and commands need, checked on this worker before any action runs."""
        from modelplane.runtime.preflight import check

        # the input's MAC first: a refused input takes no lock and runs nothing
        store = self.store_of(inp, inp.environment)
        refused = guard.check_apply(store, self.key_of(store), inp)
        if refused:
            return refused
        problems = await self._lock(inp)
        return problems + await check(self.root_of(inp), inp.environment, inp.actions)

    async def _lock(self, inp: PreflightInput) -> list[PreflightProblem]:
        """Take the environment's lock row in the state store: the lock across every Temporal service
        and checkout writing this state (the workflow id is the lock on one service). A row left by
        an apply whose workflow closed on this service is reclaimed, with an audit entry."""
        if not inp.apply_id:
            return []
        store = self.store_of(inp, inp.environment)
        here = _service_here(inp.workflow_id)
        holder = store.lock_acquire(inp.environment, inp.apply_id, inp.requested_by, here)
        if holder.apply_id == inp.apply_id:
            return []
        if await _closed_here(holder.location, holder.apply_id):
            store.force_unlock(
                inp.environment,
                inp.requested_by,
                f"reclaimed by apply {inp.apply_id}: workflow {holder.location} closed",
            )
            holder = store.lock_acquire(inp.environment, inp.apply_id, inp.requested_by, here)
            if holder.apply_id == inp.apply_id:
                return []
        since = datetime.fromtimestamp(holder.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return [
            PreflightProblem(
                what=f"the state of {inp.environment} is held by apply {holder.apply_id} of {holder.holder} "
                f"(workflow {holder.location.replace('|', ' ')}, since {since}), running from another checkout "
                "or Temporal service",
                hint="wait for it to finish (`modelplane history` shows it); if it died, clear its lock with "
                f"`modelplane state unlock --force --env {inp.environment}`",
            )
        ]

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.execute_action,
            self.record_state,
            self.record_history,
            self.preflight,
            *(self._step_activity(op) for op in serving.STEPS),
            self.serving_op,
        ]


UNRECORDED_RUNS = frozenset({"notify"})
"""Action types whose output is no node's history (a notification is kept in its own table)."""


def _run_row(aid: str, status: str, output: dict[str, Any]) -> RunRow:
    action = ActionId.parse(aid)
    return (aid, action.type, str(action.target), status, output)


def _service_here(workflow_id: str) -> str:
    """Where an apply's workflow runs: this host, this worker's Temporal service and namespace, the workflow id."""
    import socket

    client = activity.client()
    return f"{socket.gethostname()}|{client.service_client.config.target_host}|{client.namespace}|{workflow_id}"


async def _closed_here(location: str, apply_id: str) -> bool:
    """Whether the apply that holds a lock row ran on this worker's Temporal service and no longer runs
    there (terminated, failed, timed out...). On another service it may still run: never closed."""
    from temporalio.service import RPCError

    host_service, _, workflow_id = location.rpartition("|")
    if not host_service or host_service != _service_here(workflow_id).rpartition("|")[0]:
        return False
    try:
        desc = await activity.client().get_workflow_handle(workflow_id).describe()
    except RPCError:
        return True  # this service never ran it, or forgot it: nothing of it runs
    from temporalio.client import WorkflowExecutionStatus

    memo = await desc.memo()
    return not (desc.status == WorkflowExecutionStatus.RUNNING and memo.get("plan_id") == apply_id)
