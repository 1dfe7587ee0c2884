"""Values that cross the Temporal boundary: workflow and activity inputs, results, progress.

One pydantic model per workflow, activity, update and query (the SDK's advice:
fields can be added later with defaults without breaking running workflows).
They are plain data, imported into the workflow sandbox as pass-through, so
this module must stay free of I/O and heavy imports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from modelplane.compiler.plan.ids import Target
from modelplane.compiler.plan.model import NodeWrite
from modelplane.compiler.plan.payloads import ExecutionDetails
from modelplane.specs.project import LineageSettings, StateSettings

ActionState = Literal["pending", "running", "succeeded", "failed", "skipped"]
FINISHED: tuple[ActionState, ...] = ("succeeded", "failed", "skipped")


class _Msg(BaseModel):
    # built on first use, not at import: every CLI command imports this module (through runtime.apply),
    # and building its ~20 models' validators there cost a warm `plan` 0.1-0.2 s of CPU
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ActionSpec(_Msg):
    """One plan action with what its executor needs, from the plan's ``execution`` part (nothing is recompiled)."""

    id: str
    type: str
    target: str
    depends_on: list[str] = Field(default_factory=list)
    reason: str = ""
    details: ExecutionDetails = Field(default_factory=ExecutionDetails)
    """What its executor reads beyond the documents (``compiler.plan.payloads``)."""
    node: dict[str, Any] | None = None
    """The target's normalized document as the plan saw it (None for a deleted target)."""
    context: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Other normalized documents the executor reads, by ``kind/name`` (an endpoint's model and stack...)."""
    stack: dict[str, Any] | None = None
    """The plan's inputs of the target's stack (``planfile.StackInputs``): what a provisioner deploys."""
    mac: str = ""
    """HMAC of this action bound to its apply and environment (``runtime.trust``): every activity checks it
    before acting, so an action nobody planned (a forged or edited workflow input) runs nothing."""

    @property
    def target_id(self) -> Target:
        return Target.parse(self.target)


class Where(_Msg):
    """Where an apply's effects land, from the apply's input (not the worker's directory).

    ``root`` is the project root the apply was started from: commands and
    evaluations run there, local replicas and Pulumi records live under its
    ``.modelplane/``; ``state`` says which state store to write. A worker
    started anywhere (only its connection settings) can so run any apply.
    """

    root: str = ""
    state: StateSettings | None = None
    store_id: str = ""
    """The identity of the store the apply started on: a worker writes nothing to a store that is not it."""
    lineage: LineageSettings | None = None
    """Where OpenLineage events go (namespace resolved); None: none are sent."""


class ApplyInput(_Msg):
    apply_id: str
    """Names this apply in history and in idempotency keys: the store's counter and id, unique per apply
    (a plan id repeats when the same plan is applied again, e.g. to a state moved aside)."""
    project: str
    environment: str
    plan_id: str
    spec_fingerprint: str
    requested_by: str
    actions: list[ActionSpec]
    records: list[NodeWrite]
    parallelism: int = 8
    auto_approve: bool = False
    root: str = ""
    """The project root the apply was started from (see ``Where``)."""
    state: StateSettings | None = None
    store_id: str = ""
    lineage: LineageSettings | None = None
    # carried over by continue-as-new
    results: dict[str, ActionResult] = Field(default_factory=dict)
    recorded: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    history_limit: int = 8000
    """Continue as new (between actions) once the event history is this long."""
    mac: str = ""
    """HMAC of this input (``runtime.trust``), made by ``apply`` with the state store's key once the plan's
    seal and approvals are checked; the workflow's first activity refuses an input without it."""


class ActionResult(_Msg):
    state: ActionState = "pending"
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)


class ActionInput(Where):
    """What an executor activity gets: the action and its idempotency key (workflow id + plan id + action id)."""

    key: str
    apply_id: str
    environment: str
    action: ActionSpec
    trained: dict[str, Any] | None = None
    """The artifact the run in ``action.details.trained_by`` reported (``runtime.executors.artifacts``): the
    workflow passes it on from that run's output (not part of the signed action: the apply computed it)."""

    def action_fields(self) -> dict[str, Any]:
        """This input's own fields (not a subclass's): what a rollout passes on to each of its steps."""
        return {name: getattr(self, name) for name in ActionInput.model_fields}


class ActionOutput(_Msg):
    output: dict[str, Any] = Field(default_factory=dict)
    replayed: bool = False
    """True when the ledger already had the result: the side effect was not repeated."""


class RecordInput(Where):
    apply_id: str
    environment: str
    records: list[NodeWrite] = Field(default_factory=list)
    done: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Actions that succeeded (id -> output), cleared from the pending list."""
    pending: dict[str, str] = Field(default_factory=dict)
    """Actions left undone (id -> why), carried into the next plan."""
    failed: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Of those, the ones that ran and failed, with what they returned (a rollout's verdicts, an
    evaluation's metrics): each node's history keeps them. Empty in inputs an earlier build recorded."""


INTENT_PREFIX = "started by apply"
"""The reason an action is pending while its apply runs: what is left of it when that apply dies."""


class HistoryInput(Where):
    apply_id: str
    environment: str
    plan_id: str
    workflow_id: str
    requested_by: str = ""
    outcome: Literal["running", "succeeded", "failed", "aborted"] = "running"
    summary: dict[str, int] = Field(default_factory=dict)
    failures: dict[str, str] = Field(default_factory=dict)


class RolloutInput(ActionInput):
    parent_id: str


class RolloutStep(ActionInput):
    """A rollout step that needs only its endpoint's action: ``rollout_inspect``, ``rollout_router``."""


class RevisionStep(RolloutStep):
    """A step on one revision of the endpoint: ``rollout_wait_ready``, ``rollout_promote``, ``rollout_teardown``."""

    revision: str


class StartRevision(RevisionStep):
    """``rollout_start``: the revision's replicas (started, or scaled to ``replicas``)."""

    replicas: int = 1


class SetWeights(RolloutStep):
    """``rollout_weights``: the router's split, revision -> percent."""

    weights: dict[str, int]


class ObserveWindow(RolloutStep):
    """``rollout_observe``: one analysis window of each revision's figures."""

    window_s: float
    need: int = 0
    """Requests each revision in ``revisions`` should have in the window."""
    synthesize: bool = False
    """Top the window up with synthetic requests (``when_idle: synthesize``)."""
    revisions: list[str] = Field(default_factory=list)


R = TypeVar("R", bound=RolloutStep)


class ServingOp(ActionInput):
    """The one rollout activity of histories recorded before the typed steps (``serving_op``, its step in
    ``op``). Kept so a rollout started by an earlier build replays and finishes; new rollouts call the
    ``rollout_*`` activities (``workflow.patched("typed-rollout-steps")``)."""

    op: Literal["inspect", "router", "start", "wait_ready", "weights", "observe", "promote", "teardown"]
    revision: str = ""
    replicas: int = 1
    weights: dict[str, int] = Field(default_factory=dict)
    window_s: float = 60.0
    need: int = 0
    synthesize: bool = False
    revisions: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, op: str, step: RolloutStep) -> ServingOp:
        """A typed step's input as the old activity takes it."""
        return cls.model_validate({"op": op, **dict(step)})

    def step_input(self, takes: type[R]) -> R:
        """This step's typed input (the fields ``takes`` has; the old message holds every step's)."""
        return takes.model_validate({name: getattr(self, name) for name in takes.model_fields})


class PreflightInput(Where):
    """Every action of an apply: the preflight checks what the provisioners they need require."""

    environment: str
    actions: list[ActionSpec]
    apply_id: str = ""
    """Who takes the environment's lock row in the state (empty: an apply from before the lock row)."""
    requested_by: str = ""
    workflow_id: str = ""
    apply: ApplyInput | None = None
    """The whole workflow input, whose MAC the preflight checks before anything else (None: an apply from
    before the MACs, replayed)."""


class PreflightProblem(_Msg):
    what: str
    """What is missing, where (``stack/prod-gpu (aws-eks): the Pulumi CLI is not installed``)."""
    hint: str
    """What to install or set."""


class ServingResult(_Msg):
    data: dict[str, Any] = Field(default_factory=dict)
    """What a rollout step returned (the provisioner's dict); the workflow reads the steps it decides on
    through the typed views below."""


class _StepData(BaseModel):
    # a view of ServingResult.data: a provisioner may return more than the workflow reads
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Deployed(_StepData):
    """``rollout_inspect``: the endpoint's revisions as its stack runs them."""

    stable: str | None = None
    revisions: dict[str, str | None] = Field(default_factory=dict)
    """Revision -> its role (stable, canary...)."""


class RouterUp(_StepData):
    """``rollout_router``: where the endpoint's router answers."""

    url: str
    pid: int = 0
    """0 where the process is not ours (a Kubernetes stack's router)."""


class Approval(_Msg):
    target: str | None = None
    """The endpoint (``endpoint/x``) whose gate to approve; None approves every waiting gate."""
    by: str = ""


class Gate(_Msg):
    target: str
    step: int
    since: datetime
    reason: str = ""
    """Why it waits: a manual pause, or a window without enough traffic (``when_idle: hold``)."""


class RolloutStatus(_Msg):
    """Where one endpoint's rollout is: what the live view and ``status`` show."""

    target: str
    step: int
    steps: int
    weight: int
    phase: str
    """starting | scaling | pause | analysis | waiting | promoting | rolled back | promoted"""
    since: datetime
    window_s: float = 0.0
    replicas: int = 0
    verdict: dict[str, Any] | None = None
    """The last verdict: gate, result, reason, canary and stable figures (requests, real, synthetic)."""
    first: bool = False
    """A first deploy: no stable revision to canary against, so no steps: the revision starts and is
    promoted to 100%."""


class Progress(_Msg):
    apply_id: str
    plan_id: str
    environment: str
    state: Literal["running", "paused", "aborting", "succeeded", "failed", "aborted"]
    started_at: datetime | None
    actions: dict[str, ActionResult]
    order: list[str]
    gates: list[Gate] = Field(default_factory=list)
    rollouts: dict[str, RolloutStatus] = Field(default_factory=dict)
    abort_reason: str | None = None
    preflight: list[PreflightProblem] = Field(default_factory=list)
    """Prerequisites found missing before any action ran (then none did)."""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.actions.values():
            out[r.state] = out.get(r.state, 0) + 1
        return out


class ApplyOutcome(_Msg):
    apply_id: str
    state: Literal["succeeded", "failed", "aborted"]
    actions: dict[str, ActionResult]
