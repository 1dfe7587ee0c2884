"""The saved plan: a versioned, JSON-serializable value (``plan --out``), and its JSON Schema.

Only this flat form crosses into the runtime: ``apply`` reads it, checks that
the state serial it was computed against is still current, and executes the
actions from its ``execution`` part (``compiler.execution``): every document,
engine command and Kubernetes object an action needs, so nothing is compiled
after the plan was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from modelplane.compiler.plan.ids import Target
from modelplane.compiler.plan.payloads import PAYLOADS, ActionDetails, ExecutionDetails, NoDetails, OwnerDuty
from modelplane.errors import Diagnostic

PLAN_FORMAT_VERSION = 2
"""2: plans carry ``execution`` (what apply runs); version 1 plans must be made again."""

ActionType = Literal["register", "run-workflow", "evaluate", "provision", "rollout", "decommission", "notify"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built on first use


class FieldDelta(_Model):
    """One changed field of a spec."""

    path: str = Field(description="Where in the document, e.g. `spec.slo.p99_latency_ms`.")
    before: Any = Field(default=None, description="The value before; null where the field is added.")
    after: Any = Field(default=None, description="The value after; null where the field is removed.")


class ColumnRetype(_Model):
    """A column whose type changed: the features that read it are broken."""

    name: str
    before: str = Field(description="Its type before.")
    after: str = Field(description="Its type after.")


class Columns(_Model):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    retyped: list[ColumnRetype] = Field(default_factory=list)


class PlanChange(_Model):
    id: str
    kind: str
    change: Literal["create", "update", "replace", "delete"]
    effect: Literal["breaking", "non-breaking", "metadata-only"]
    fields: list[FieldDelta] = Field(default_factory=list)
    columns: Columns | None = None
    breaking_reasons: list[str] = Field(default_factory=list)
    owner: str
    file: str | None = None


class PlanImpact(_Model):
    id: str
    category: Literal["broken", "retrain-required", "re-evaluate-required", "rollout-required", "notify", "unaffected"]
    reasons: list[str]
    owner: str
    broken_columns: list[str] = Field(default_factory=list)


class PlanAction(_Model):
    id: str
    type: ActionType
    target: str
    depends_on: list[str] = Field(default_factory=list)
    reason: str
    details: ActionDetails = Field(default_factory=NoDetails)
    """Its type's payload (``compiler.plan.payloads.PAYLOADS``)."""

    @field_validator("details", mode="before")
    @classmethod
    def _typed(cls, value: Any, info: ValidationInfo) -> Any:
        # a plan file's JSON object becomes the payload of the action's own type (not the first that fits)
        if isinstance(value, dict) and info.data.get("type") in PAYLOADS:
            return PAYLOADS[info.data["type"]].model_validate(value)
        return value

    @property
    def target_id(self) -> Target:
        return Target.parse(self.target)


class GpuDelta(_Model):
    stack: str
    accelerator: str
    before_min: int
    before_max: int
    after_min: int
    after_max: int

    @property
    def delta_max(self) -> int:
        return self.after_max - self.before_max

    @property
    def delta_min(self) -> int:
        return self.after_min - self.before_min


class CapacityFigures(_Model):
    """Replicas, GPUs and monthly cost of one endpoint at its bounds and at the declared peak."""

    min_replicas: int
    max_replicas: int
    steady_replicas: int
    """Replicas the autoscaler holds at the declared peak (its target utilisation)."""
    gpus_min: int
    gpus_steady: int
    gpus_max: int
    usd_month_min: float | None = None
    usd_month_steady: float | None = None
    usd_month_max: float | None = None


class CapacityLine(_Model):
    """One endpoint's capacity in this environment, from its profile (or declared capacity), and its cost."""

    endpoint: str
    stack: str
    accelerator: str
    gpus_per_replica: int
    peak_qps: float
    qps_per_replica: float
    capacity_source: str = Field(description="Where the per-replica capacity comes from (profile or declared).")
    profile: str | None = None
    stale: list[str] = Field(default_factory=list, description="What changed since the profile was measured.")
    utilisation: float = Field(description="The autoscaler's target over the capacity at the SLO.")
    within_slo_replicas: int = Field(description="Fewest replicas that hold the peak within the p99 SLO.")
    profile_replicas: int | None = Field(
        default=None,
        description="Where the fleet simulation set within_slo_replicas: the count from the profile's per-replica "
        "capacity alone (peak / capacity), before the simulation checked it.",
    )
    zones: int = Field(default=0, description="Zones the endpoint spreads over, where it must survive losing one.")
    needed_replicas: int = Field(description="What max_replicas must allow (with one zone lost where it applies).")
    canary_replicas: int = Field(default=0, description="Canary replicas at the largest analysed step below 100%.")
    figures: CapacityFigures
    before: CapacityFigures | None = None
    """The same figures for the base (None: the endpoint is new here)."""
    price: str | None = Field(default=None, description="The price used, with its source and date; null: no cost.")
    price_as_of: str | None = None
    price_max_age_days: int = 180
    """Past this age a report notes that the price needs checking."""

    @property
    def changed(self) -> bool:
        return self.before != self.figures


OWNER_DUTIES: tuple[OwnerDuty, ...] = ("fix", "retrain", "re-evaluate", "watch-rollout", "review-change", "be-informed")
"""What an owner must do, most urgent first (a node's impact category, or its own change)."""
DUTY_TITLES: dict[str, str] = {
    "fix": "fix a broken consumer",
    "retrain": "retrain a stale model",
    "re-evaluate": "re-evaluate",
    "watch-rollout": "watch a rollout",
    "review-change": "review their change",
    "be-informed": "be informed",
}


class OwnerNotice(_Model):
    owner: str
    services: list[str]
    """The owner's own services among the affected."""
    most_critical_tier: int | None = None
    """The most critical tier (0 is the most) of the services their affected nodes feed, their own included."""
    nodes: list[str] = Field(default_factory=list)
    must: dict[OwnerDuty, list[str]] = Field(default_factory=dict)
    """Their nodes by what they must do about them, in ``OWNER_DUTIES`` order."""


def owners_by_duty(plan: Plan) -> list[tuple[OwnerDuty, list[tuple[OwnerNotice, list[str]]]]]:
    """The plan's owners grouped by what they must do (most urgent first); within a duty, the most
    critical tier first. An owner appears under every duty they have."""
    out = []
    for duty in OWNER_DUTIES:
        owners = [(o, o.must[duty]) for o in plan.owners_to_notify if duty in o.must]
        owners.sort(key=lambda x: (x[0].most_critical_tier if x[0].most_critical_tier is not None else 99, x[0].owner))
        if owners:
            out.append((duty, owners))
    return out


class BaseRef(_Model):
    kind: Literal["state", "git"]
    ref: str | None = None
    commit: str | None = None
    serial: int = 0
    fingerprint: str | None = None


class PlanDiagnostic(_Model):
    """The fields of a diagnostic's one JSON form (``Diagnostic.to_json``) that plan format 2 declares."""

    code: str
    severity: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None

    @classmethod
    def of(cls, d: Diagnostic) -> PlanDiagnostic:
        form = d.to_json()
        return cls.model_validate({k: form[k] for k in cls.model_fields})


class LeftOver(_Model):
    """An action an earlier apply did not finish (failed, skipped, aborted), as the state store keeps it."""

    action: str
    """The action id (``type:target``)."""
    reason: str
    """Why it is left over, in the words of the apply that left it."""
    in_plan: bool = True
    """False when there is nothing left to do: its node is gone from the specs (``note`` says so)."""
    note: str | None = None


class Summary(_Model):
    changes: dict[str, int]
    impact: dict[str, int]
    actions: dict[str, int]
    breaking: int
    gpus_delta_max: int
    gpus_delta_min: int
    owners: int
    left_over: int = 0
    """Actions in this plan that an earlier apply left undone (pending in the state store)."""


class ExecutionAction(_Model):
    """What the executor of one plan action reads (``id`` is the plan action's)."""

    id: str
    node: dict[str, Any] | None = None
    """The target's normalized document (the applied one for a deleted target)."""
    context: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Other normalized documents the executor reads, by ``kind/name`` (an endpoint's model and stack)."""
    details: ExecutionDetails = Field(default_factory=ExecutionDetails)
    """The action's payload plus ``timeout_s``, ``stack``, ``revision`` and ``engine_args`` (rendered `vllm serve`)."""


class NodeWrite(_Model):
    """A node written into the applied snapshot once the actions it waits for succeed."""

    id: str
    op: Literal["upsert", "delete"]
    kind: str
    file: str = ""
    index: int = 0
    data: dict[str, Any] | None = None
    waits_for: list[str] = Field(default_factory=list)
    moved_from: str | None = None
    """The id the state holds this node under (a ``moved`` record): renamed in the same transaction."""


class PlanMove(_Model):
    """A node renamed since it was applied (a ``moved`` record of modelplane.yaml): the plan compares it
    with what was applied under its old id, and apply renames the state's row (no delete, no create)."""

    from_id: str
    to_id: str


class StackEndpoint(_Model):
    endpoint: dict[str, Any]
    """The endpoint's document: its router is rendered from it at each canary weight."""
    revision: str
    """The revision this plan deploys."""
    objects: dict[str, list[dict[str, Any]]]
    """Kubernetes objects per revision: the plan's and, where it differs, the applied one."""


class StackInputs(_Model):
    """What a stack's provisioner needs (for Kubernetes stacks: every object it deploys)."""

    name: str
    provider: str
    namespace: str
    region: str | None = None
    pools: list[dict[str, Any]] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    pulumi: dict[str, Any] = Field(default_factory=dict)
    objects: list[dict[str, Any]] = Field(default_factory=list)
    """Objects of the stack itself (its namespace)."""
    endpoints: dict[str, StackEndpoint] = Field(default_factory=dict)


class ApprovalPolicy(_Model):
    """The environment's approval policy as it was when the plan was made: ``apply`` applies this one
    (bound to the plan by its seal), not the one in the applier's modelplane.yaml."""

    require: list[str] = Field(default_factory=list)
    approvers: dict[str, list[str]] = Field(default_factory=dict)
    """Owner -> the identities that may approve for it (``approvals.approvers``)."""


class Execution(_Model):
    actions: list[ExecutionAction]
    records: list[NodeWrite]
    stacks: dict[str, StackInputs] = Field(default_factory=dict)
    approvals: ApprovalPolicy | None = None
    """Set (with ``seal``) by the runtime when it seals the plan with the state store's key."""
    seal: str = ""
    """HMAC-SHA256 of the whole plan but this field, keyed by the state store's secret (``runtime.trust``):
    ``apply`` runs only a plan whose seal matches, so a hand-edited plan is refused."""


class Plan(_Model):
    format_version: Literal[2] = 2
    modelplane_version: str
    project: str
    environment: str
    base: BaseRef
    spec_fingerprint: str
    """Identifies the specs the plan was made from."""
    state_serial: int
    """The applied-state serial the plan was computed against; apply refuses a plan whose serial is stale."""
    changes: list[PlanChange]
    impact: list[PlanImpact]
    actions: list[PlanAction]
    gpu_deltas: list[GpuDelta]
    owners_to_notify: list[OwnerNotice]
    diagnostics: list[PlanDiagnostic] = Field(default_factory=list)
    summary: Summary
    capacity: list[CapacityLine] = Field(default_factory=list)
    """Every endpoint's replicas, GPUs and cost in this environment, with the base's figures."""
    left_over: list[LeftOver] = Field(default_factory=list)
    """Every pending action of the state store, whether this plan carries it or (its node gone) cannot."""
    execution: Execution | None = None
    """What apply carries out; present in saved plans (``plan --out``) and in the plan ``apply`` makes."""
    target: str | None = None
    """The selector of a targeted plan (``plan --select``): only the changes of the nodes it picks."""
    moved: list[PlanMove] = Field(default_factory=list)
    """Renamed nodes (``moved`` records the state has not taken yet): apply renames their state rows."""

    @property
    def has_work(self) -> bool:
        """Something for apply to do: a change, a rename to record, or an action an earlier apply left undone."""
        return bool(self.changes) or bool(self.moved) or self.summary.left_over > 0

    @property
    def id(self) -> str:
        """Content id: equal plans have equal ids (what apply locks and re-attaches on)."""
        import hashlib

        # without the seal: a plan's id is its content (approvals name it), whoever sealed it
        body = self.model_dump_json(exclude={"execution": {"seal"}})
        return hashlib.blake2b(body.encode(), digest_size=10).hexdigest()


def approvals_needed(plan: Plan, require: Sequence[str]) -> dict[str, list[str]]:
    """Owner -> what of theirs needs their approval (``class: node``): each changed node whose effect and each
    affected node whose impact category ``require`` names (an environment's ``approvals.require``)."""
    if not require:
        return {}
    wanted = set(require)
    out: dict[str, list[str]] = {}
    for c in plan.changes:
        if c.effect in wanted:
            out.setdefault(c.owner, []).append(f"{c.effect}: {c.id}")
    for i in plan.impact:
        if i.category in wanted:
            out.setdefault(i.owner, []).append(f"{i.category}: {i.id}")
    return {owner: sorted(set(items)) for owner, items in sorted(out.items())}


def plan_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"modelplane plan file (format_version {PLAN_FORMAT_VERSION})"
    return schema
