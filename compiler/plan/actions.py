"""Plan stage: changes and impact -> a DAG of actions, GPU deltas per stack, owners to notify.

Dependencies encode the safety order: a model's blocking evaluations run
before any of its endpoints roll out, stacks are provisioned before the
endpoints on them, workflows re-run before the evaluations of what they train,
and owners are told after the rollouts that affect them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from modelplane import __version__
from modelplane.compiler.change.diff import Change, Diff
from modelplane.compiler.change.impact import ACTIONABLE, CATEGORY_ORDER, Impact
from modelplane.compiler.change.state import PendingAction
from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.graph.toposort import toposort
from modelplane.compiler.load.specset import SpecNode
from modelplane.compiler.plan.artifacts import served_artifact, served_digest, spec_hash
from modelplane.compiler.plan.ids import ActionId, Target
from modelplane.compiler.plan.model import (
    DUTY_TITLES,
    OWNER_DUTIES,
    ActionType,
    BaseRef,
    ColumnRetype,
    Columns,
    FieldDelta,
    GpuDelta,
    LeftOver,
    OwnerNotice,
    Plan,
    PlanAction,
    PlanChange,
    PlanDiagnostic,
    PlanImpact,
    Summary,
)
from modelplane.compiler.plan.payloads import PAYLOADS, OwnerDuty
from modelplane.compiler.report.words import plural
from modelplane.compiler.timings import timed
from modelplane.specs.base import NodeId, build_in_order
from modelplane.specs.enums import PRODUCING_EDGES, EdgeKind
from modelplane.specs.kinds import registry

CATALOG_KINDS = tuple(e.name for e in registry.entries() if e.catalog)
"""The built-in kinds the catalog registers (each kind says so in specs/kinds/)."""


@dataclass(slots=True)
class _Draft:
    """A plan action while the builder works on it: mutable, its payload a plain mapping of the fields set so far.
    Each becomes one ``PlanAction`` (its payload validated once) when the plan is done; copying a frozen model
    for every reason, detail and dependency set was a third of the plan stage (~3,000 copies a 10,000-node plan)."""

    id: str
    type: str
    target: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def target_id(self) -> Target:
        return Target.parse(self.target)

    def done(self, depends_on: list[str]) -> PlanAction:
        payload = PAYLOADS[self.type].model_validate(self.details)
        return PlanAction(
            id=self.id, type=self.type, target=self.target, depends_on=depends_on, reason=self.reason, details=payload
        )


@dataclass
class _Builder:
    head: LineageGraph
    base: LineageGraph
    diff: Diff
    impact: Impact
    actions: dict[str, _Draft]
    carried: set[str] = field(default_factory=set)
    """Ids of actions an earlier apply left pending (they may be needed afresh too)."""
    notify_left_over: dict[str, str] = field(default_factory=dict)
    """Owner -> why a notice to them is still owed from an earlier apply."""
    owed_only: set[str] = field(default_factory=set)
    """Owners told only because an earlier apply owed them a notice (nothing in this change affects them)."""

    def __post_init__(self) -> None:
        build_in_order(Plan)  # the plan's models, its parts' first: each schema made once

    @property
    def region(self) -> set[NodeId]:
        """The changed nodes and everything downstream of them (impact holds the whole downstream
        closure, unaffected nodes included): closed under downstream."""
        return set(self.diff.changes) | set(self.impact.affected)

    def add(self, type_: str, target: NodeId | str, reason: str) -> str:
        aid = f"{type_}:{target}"
        if aid not in self.actions:
            self.actions[aid] = _Draft(aid, type_, str(target), reason)
        return aid


@timed("plan")
def build_plan(
    *,
    project: str,
    environment: str,
    head: LineageGraph,
    base: LineageGraph,
    diff: Diff,
    impact: Impact,
    base_ref: BaseRef,
    state_serial: int,
    diagnostics: list[PlanDiagnostic] | None = None,
    pending: Mapping[str, PendingAction] | None = None,
) -> Plan:
    b = _Builder(head, base, diff, impact, {})
    _actions_for_changes(b)
    _actions_for_impact(b)
    _retrain_rollouts(b)
    _mark_in_place(b)
    left_over = _actions_left_over(b, pending or {})
    _note_unserved_artifacts(b)
    owners = _owners(b)
    actions = _with_dependencies(b, owners)
    gpu = gpu_deltas(base, head)
    changes = [_plan_change(c, head, base) for c in diff.changes.values()]
    impacts = [
        PlanImpact(
            id=str(a.id),
            category=a.category,
            reasons=a.reasons,
            owner=head.nodes[a.id].owner,
            broken_columns=a.broken_columns,
        )
        for a in impact.affected.values()
    ]
    summary = Summary(
        changes=_count(c.change for c in changes),
        impact={cat: n for cat in CATEGORY_ORDER if (n := sum(1 for i in impacts if i.category == cat))},
        actions=_count(a.type for a in actions),
        breaking=sum(1 for c in changes if c.effect == "breaking") + sum(1 for i in impacts if i.category == "broken"),
        gpus_delta_max=sum(g.delta_max for g in gpu),
        gpus_delta_min=sum(g.delta_min for g in gpu),
        owners=len(owners),
        left_over=sum(1 for a in actions if a.id in b.carried),
    )
    return Plan(
        modelplane_version=__version__,
        project=project,
        environment=environment,
        base=base_ref,
        spec_fingerprint=head.specs.fingerprint,
        state_serial=state_serial,
        changes=changes,
        impact=impacts,
        actions=actions,
        gpu_deltas=gpu,
        owners_to_notify=owners,
        diagnostics=diagnostics or [],
        summary=summary,
        left_over=left_over,
    )


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items()))


def _plan_change(c: Change, head: LineageGraph, base: LineageGraph) -> PlanChange:
    node = head.nodes.get(c.id) or base.nodes[c.id]
    columns = None
    if c.columns:
        columns = Columns(
            added=c.columns.added,
            removed=c.columns.removed,
            retyped=[ColumnRetype(name=n, before=a, after=b) for n, a, b in c.columns.retyped],
        )
    return PlanChange(
        id=str(c.id),
        kind=c.kind,
        change=c.change,
        effect=c.effect,
        fields=[FieldDelta(path=f.path, before=f.before, after=f.after) for f in c.fields],
        columns=columns,
        breaking_reasons=c.breaking_reasons,
        owner=node.owner,
        file=node.file if c.change != "delete" else None,
    )


def _actions_for_changes(b: _Builder) -> None:
    for nid, c in b.diff.changes.items():
        if c.effect == "metadata-only":
            continue  # recorded by apply, nothing to run
        kind = registry.get(c.kind)  # what a change of each kind runs: its module in specs/kinds/
        if c.change == "delete":
            for type_ in kind.plan.on_delete:
                b.add(type_, nid, f"{nid} is deleted")
            continue
        verb = {"create": "new", "update": "changed", "replace": "replaced"}[c.change]
        if kind.catalog:
            b.add("register", nid, f"{nid} is {verb}")
        if kind.plan.on_stack:
            if c.change in ("create", "replace"):
                b.add("provision", nid, f"{nid} is {verb}: capacity on its stack")
            if c.change == "replace":
                old_stack = b.base.nodes[nid].spec["stack"]
                b.add("decommission", f"{nid}@stack/{old_stack}", f"{nid} moves off stack/{old_stack}")
        for type_ in kind.plan.on_change:
            b.add(type_, nid, f"{nid} is {verb}")


def _actions_for_impact(b: _Builder) -> None:
    for a in b.impact.affected.values():
        node = b.head.nodes[a.id]
        reason = " -> ".join(a.reasons)
        on_retrain = registry.get(node.kind).plan.on_retrain
        if a.category == "retrain-required" and on_retrain is not None:
            b.add(on_retrain, a.id, reason)
        elif a.category == "re-evaluate-required" and not _waits_for_retrain(b, node):
            b.add("evaluate", a.id, reason)
        elif a.category == "rollout-required":
            b.add("rollout", a.id, reason)
    # an evaluation of a stale model runs after the re-run that retrains it; with nothing
    # scheduled to retrain the model (no producing workflow, or retrain_on_change off) the
    # impact still lists it, but running it now would only re-measure the old model
    for a in b.impact.affected.values():
        node = b.head.nodes[a.id]
        if a.category == "re-evaluate-required" and _waits_for_retrain(b, node):
            model = NodeId("model", node.spec_field("model"))
            if any(f"run-workflow:{w}" in b.actions for w in _producer(b.head, model)):
                b.add("evaluate", a.id, " -> ".join(a.reasons))


def _retrained_models(b: _Builder) -> dict[NodeId, str]:
    """Stale models that a workflow run of this plan retrains -> that run's action id."""
    out: dict[NodeId, str] = {}
    for a in b.impact.affected.values():
        if a.category != "retrain-required" or a.id.kind != "model":
            continue
        runs = [f"run-workflow:{w}" for w in _producer(b.head, a.id) if f"run-workflow:{w}" in b.actions]
        if runs:
            out[a.id] = runs[0]
    return out


def _retrain_rollouts(b: _Builder) -> None:
    """A retrain makes a new artifact: the model registers it once the run is done, and every endpoint serving
    it rolls it out as a canary in the same apply, gated by the model's blocking evaluations. The revision id
    covers the trained artifact's digest, so it is known only once the training step has run: the workflow
    computes it (``stacks.engine.trained_revision``) from the run named in ``details.trained_by``."""
    for model, run in _retrained_models(b).items():
        b.add("register", model, f"{model} registers the artifact {run.removeprefix('run-workflow:')} trains")
        spec = spec_hash(b.head.nodes[model].data)  # what the artifact is trained for (compiler.plan.artifacts)
        _with_details(b.actions[f"register:{model}"], trained_by=run, model_spec=spec)
        ran = b.actions[run]
        trained = (ran.details.get("trains") or []) if ran.type == "run-workflow" else []
        _with_details(ran, trains=sorted({*trained, str(model)}))
        for e in b.head.out_edges(model):
            if e.kind == EdgeKind.EVALUATES and f"evaluate:{e.target}" in b.actions:  # they judge the trained weights
                _with_details(b.actions[f"evaluate:{e.target}"], trained_by=run)
            if e.kind != "serves" or b.head.nodes[e.target].kind != "Endpoint":
                continue
            gates = sorted(str(g.source) for g in b.head.in_edges(e.target) if g.kind == EdgeKind.GATES)
            gated = f"gated by {', '.join(gates)}" if gates else "with no blocking evaluation to gate it"
            what = f"rolls out the artifact trained in this apply as a canary, {gated}"
            own = f"{e.target} {what}"
            cur = b.actions.get(f"rollout:{e.target}")
            if cur is None or (cur.type == "rollout" and cur.details.get("trained_by")):
                reason = own
            elif cur.reason.endswith("as a canary"):  # the impact's chain (compiler.change.impact._retrained)
                reason = f"{cur.reason}, {gated}"
            else:  # the endpoint changed itself too: one rollout, of its spec and the trained weights
                reason = f"{cur.reason}; {own}"
            act = b.actions[b.add("rollout", e.target, reason)]
            act.reason = reason
            _with_details(act, trained_by=run, retrain=what)


def _with_details(act: _Draft, **details: Any) -> None:
    """Set these payload fields of ``act`` (a field its type's payload lacks is an error at once, not when the
    plan is done). A field set here is written in the plan, as the payload's serializer writes only the fields set."""
    payload = PAYLOADS[act.type]
    unknown = details.keys() - payload.model_fields.keys()
    if unknown:
        raise TypeError(f"{payload.__name__} has no field {', '.join(sorted(unknown))}")
    act.details.update(details)


def _mark_in_place(b: _Builder) -> None:
    """A rollout whose revision stays the same (only ``specs.endpoint_fields``' in-place fields changed) updates
    the running revision's settings with no new replicas: the plan says so, in its reason and details."""
    from modelplane.stacks.engine import revision_id

    for act in b.actions.values():
        if act.type != "rollout" or act.details.get("trained_by"):
            continue
        nid = act.target_id.node
        old, new = b.base.nodes.get(nid), b.head.nodes.get(nid)
        if old is None or new is None or old.kind != "Endpoint":
            continue
        models = [g.nodes.get(NodeId("model", n.spec["model"])) for g, n in ((b.base, old), (b.head, new))]
        # what serves now (the weights its last rollout took out) against what will: the weights a retrain
        # registered last, while the model's spec is the one they were trained for
        digests = [served_digest(b.base, nid), (served_artifact(b.base, models[1]) or {}).get("digest")]
        before, after = (
            revision_id(n.data, m.data if m else None, d) for n, m, d in zip((old, new), models, digests, strict=True)
        )
        if before != after:
            continue
        change = b.diff.changes.get(nid)
        fields = ", ".join(f.path.removeprefix("spec.") for f in change.fields) if change else "its settings"
        reason = f"{nid} changes in place ({fields}): revision {after} keeps serving, no new replicas"
        act.reason = reason
        _with_details(act, in_place=True, revision=after)


def _note_unserved_artifacts(b: _Builder) -> None:
    """A rollout (changed or left over) of an endpoint that does not serve the artifact a retrain registered last
    (its rollout did not happen: a blocking evaluation failed) takes that artifact out too: the plan says so."""
    for act in b.actions.values():
        if act.type != "rollout" or act.details.get("trained_by") or act.details.get("in_place"):
            continue
        nid = act.target_id.node
        node = b.head.nodes.get(nid)
        if node is None or node.kind != "Endpoint":
            continue
        registered = served_artifact(b.base, b.head.nodes.get(NodeId("model", node.spec["model"])))
        if registered is not None and registered["digest"] != served_digest(b.base, nid):
            what = f"rolls out the artifact a retrain registered ({registered['digest'][:19]}), not yet serving"
            act.reason = f"{act.reason}; {what}"


def _waits_for_retrain(b: _Builder, node: SpecNode) -> bool:
    """An evaluation whose model is stale (not a new version) re-runs only once it is retrained."""
    if node.kind != "Evaluation":
        return False
    model = NodeId("model", node.spec_field("model"))
    stale = b.impact.affected.get(model)
    return stale is not None and stale.category == "retrain-required" and model not in b.diff.changes


def _actions_left_over(b: _Builder, pending: Mapping[str, PendingAction]) -> list[LeftOver]:
    """What an earlier apply did not finish is still to do; each pending action is accounted for, none dropped.

    Only an action whose node is gone from the specs is not carried (a deleted
    node's own delete decommissions it): it is listed with that note instead.
    A notice is owed to its owner whatever changed since, so it always stays.
    """
    out = []
    for aid, p in sorted(pending.items()):
        if p.type not in get_args(ActionType):
            out.append(LeftOver(action=aid, reason=p.reason, in_plan=False, note=f"unknown action type `{p.type}`"))
            continue
        if p.type == "notify":
            b.notify_left_over[Target.parse(p.target).node.name] = p.reason
            b.carried.add(f"notify:{p.target}")
            out.append(LeftOver(action=aid, reason=p.reason))
            continue
        try:
            nid: NodeId | None = Target.parse(p.target).node
        except ValueError:
            nid = None
        if nid is not None and (nid in b.head.nodes or p.type == "decommission"):
            b.carried.add(b.add(p.type, p.target, f"left over from an earlier apply: {p.reason}"))
            out.append(LeftOver(action=aid, reason=p.reason))
        else:
            note = f"{nid if nid is not None else p.target} is no longer in the specs, so its {p.type} cannot run"
            out.append(LeftOver(action=aid, reason=p.reason, in_plan=False, note=note))
    return out


def _tier(node: SpecNode) -> Any:
    """The tier of a node whose kind has one (a service's), else None."""
    field = registry.get(node.kind).tier
    return node.spec_field(field) if field is not None else None


def _producer(head: LineageGraph, nid: NodeId) -> list[NodeId]:
    return sorted({e.source for e in head.in_edges(nid) if e.kind in PRODUCING_EDGES})


def _with_dependencies(b: _Builder, owners: list[OwnerNotice]) -> list[PlanAction]:
    """Every action of the plan, done, with what it waits for, in an order that respects it."""
    acts = b.actions
    head = b.head
    deps: dict[str, set[str]] = {aid: set() for aid in acts}

    def need(aid: str, dep: str) -> None:
        if dep in acts and dep != aid:
            deps[aid].add(dep)

    for aid, act in acts.items():
        try:
            nid = act.target_id.node
        except ValueError:
            continue
        node = head.nodes.get(nid)
        if node is None:
            continue
        if act.type in ("run-workflow", "evaluate", "rollout", "provision"):
            need(aid, f"register:{nid}")
        if act.type == "register" and registry.get(node.kind).impact.retrains:
            for w in _producer(head, nid):  # the catalog registers what the run trained
                need(aid, f"run-workflow:{w}")
        if act.type == "run-workflow":
            for inp in head.parents(nid):
                for w in _producer(head, inp):
                    need(aid, f"run-workflow:{w}")
        if act.type == "evaluate":
            model = NodeId("model", node.spec_field("model"))
            need(aid, f"register:{model}")
            for w in _producer(head, model):
                need(aid, f"run-workflow:{w}")
            for w in _producer(head, NodeId("dataset", node.spec_field("dataset"))):
                need(aid, f"run-workflow:{w}")
        if act.type in ("rollout", "provision") and registry.get(node.kind).plan.on_stack:
            stack = NodeId("stack", node.spec_field("stack"))
            need(aid, f"provision:{stack}")
            if act.type == "rollout":
                need(aid, f"provision:{nid}")
                model = NodeId("model", node.spec_field("model"))
                need(aid, f"register:{model}")
                for e in head.in_edges(nid):
                    if e.kind == EdgeKind.GATES:
                        need(aid, f"evaluate:{e.source}")
        if act.type == "decommission" and node is not None and registry.get(node.kind).plan.on_stack:
            need(aid, f"rollout:{nid}")  # the new revision serves before the old one goes
    for aid, act in acts.items():
        if act.type == "decommission" and act.target.startswith("stack/"):
            for other in acts.values():
                if other.type == "decommission" and other.target.startswith("endpoint/"):
                    old = b.base.nodes.get(other.target_id.node)
                    if old is not None and f"stack/{old.spec['stack']}" == act.target:
                        deps[aid].add(other.id)
    # owners are told after everything that affects what they consume
    notify = _notify_actions(b, owners)
    for n, after in notify:
        deps[n.id] = after
    ordered = _topo(deps)
    by_id = {**acts, **{n.id: n for n, _ in notify}}
    return [by_id[a].done(sorted(deps[a])) for a in ordered]


def _notify_actions(b: _Builder, owners: list[OwnerNotice]) -> list[tuple[_Draft, set[str]]]:
    """A notice per owner to tell, with the actions it waits for."""
    out = []
    # every action of this plan's changes is in the region, and so is every node on a path from one
    # down to an owner's node: the walks up stay inside it. Work left over from an earlier apply can
    # sit anywhere, so with any of it the walks cover the whole graph.
    region = set(b.head.nodes) if b.carried else b.region
    # the work an owner is told after: each node's rollout, evaluation or workflow run
    work: dict[NodeId, list[str]] = {}
    for aid, act in b.actions.items():
        if act.type in ("rollout", "evaluate", "run-workflow"):
            with contextlib.suppress(ValueError):
                work.setdefault(NodeId.parse(act.target), []).append(aid)
    for notice in owners:
        # a service its owner changed or deleted in this change is theirs to know about, not news
        affected = [s for s in notice.services if NodeId.parse(s) not in b.diff.changes]
        if set(notice.must) == {"review-change"} and not affected and notice.owner not in b.owed_only:
            continue  # the authors of a change are named in the report, not sent a notice about it
        deps: set[str] = set()
        # told after the work on their nodes and on everything upstream of them
        about = {NodeId.parse(x) for x in (*notice.services, *notice.nodes)}
        for parent in about | b.head.upstream_within(about & region, region):  # one walk per owner
            deps.update(work.get(parent, ()))
        aid = f"notify:owner/{notice.owner}"
        parts = (
            [f"{plural(len(notice.services), 'service')} affected: {', '.join(notice.services)}"]
            if notice.services
            else []
        )
        parts += [f"{DUTY_TITLES[d]}: {_few(nodes)}" for d, nodes in notice.must.items() if d != "be-informed"]
        reason = "; ".join(parts) or "informed of the change"
        if notice.owner in b.owed_only:
            reason = f"left over from an earlier apply: {b.notify_left_over[notice.owner]}"
            if notice.services:
                reason += f"; {plural(len(notice.services), 'service')} affected: {', '.join(notice.services)}"
            else:  # what it was about is not known any more: tell them after the rest of the left-over work
                deps |= {a for a in b.carried if a in b.actions and ActionId.type_of(a) != "notify"}
        details = {"services": notice.services, "most_critical_tier": notice.most_critical_tier, "must": notice.must}
        out.append((_Draft(aid, "notify", f"owner/{notice.owner}", reason, details), deps))
    return out


def _tier_below(graph: LineageGraph, region: set[NodeId]) -> dict[NodeId, int]:
    """For each node of ``region`` (closed under downstream), the most critical tier of the services
    it feeds (itself included): one pass in reverse topological order, not a walk per owner."""
    below: dict[NodeId, int] = {}
    for nid in reversed(graph.topo_order()):
        if nid not in region:
            continue
        node = graph.nodes[nid]
        tiers = [below[e.target] for e in graph.out_edges(nid) if e.target in below]
        tier = _tier(node)
        if tier is not None:
            tiers.append(tier)
        if tiers:
            below[nid] = min(tiers)
    return below


def _few(items: list[str], shown: int = 5) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _topo(deps: dict[str, set[str]]) -> list[str]:
    """Actions after their dependencies, ties in id order (``compiler.graph.toposort``)."""
    keys = sorted(deps)
    at = {a: i for i, a in enumerate(keys)}
    order, stuck = toposort(keys, ((at[d], at[a]) for a, ds in deps.items() for d in ds))
    if stuck:  # the rules above only point from later stages to earlier ones
        raise AssertionError(f"plan actions form a cycle: {sorted(keys[i] for i in stuck)}")
    return order


_DUTY_OF: dict[str, OwnerDuty] = {
    "broken": "fix",
    "retrain-required": "retrain",
    "re-evaluate-required": "re-evaluate",
    "rollout-required": "watch-rollout",
    "notify": "be-informed",
}


def _owners(b: _Builder) -> list[OwnerNotice]:
    """Every owner of an affected or changed node, with what they must do and how critical it is."""
    services: dict[str, dict[str, int]] = {}
    duties: dict[str, dict[OwnerDuty, set[str]]] = {}
    # retrained by this apply (the model, and the workflow that trains it): their owners are told, not asked to
    retrained = {*_retrained_models(b), *(n for n in b.impact.affected if f"run-workflow:{n}" in b.actions)}
    touched: list[tuple[NodeId, OwnerDuty]] = [
        (n, "be-informed" if n in retrained else _DUTY_OF[a.category])
        for n, a in b.impact.affected.items()
        if a.category in ACTIONABLE
    ]
    touched += [(n, "review-change") for n, c in b.diff.changes.items() if c.effect != "metadata-only"]
    for nid, duty in touched:
        node = b.head.nodes.get(nid) or b.base.nodes.get(nid)
        if node is None:
            continue
        duties.setdefault(node.owner, {}).setdefault(duty, set()).add(str(nid))
        tier = _tier(node)
        if tier is not None:
            services.setdefault(node.owner, {})[str(nid)] = tier
    # a notice an earlier apply owed: about the services downstream of the work it left, as far as they are known
    left_targets = []
    for aid in b.carried - {f"notify:owner/{o}" for o in b.notify_left_over}:
        with contextlib.suppress(ValueError):
            left_targets.append(ActionId.parse(aid).target.node)
    below = b.head.downstream(left_targets) if b.notify_left_over else set()
    for owner in b.notify_left_over:
        if owner not in services and owner not in duties:
            b.owed_only.add(owner)
            services[owner] = {
                str(n): tier
                for n in sorted(below)
                if (tier := _tier(b.head.nodes[n])) is not None and b.head.nodes[n].owner == owner
            }
    nodes_by_owner = {o: set().union(*by_duty.values()) for o, by_duty in duties.items()}
    fed = _tier_below(b.head, b.region)  # every owner's node is in the region
    out = []
    for owner in sorted(set(services) | set(duties)):
        svcs = sorted(services.get(owner, {}).items())
        own = nodes_by_owner.get(owner, set())
        tiers = [t for _, t in svcs] + [t for n in own if (t := fed.get(NodeId.parse(n))) is not None]
        out.append(
            OwnerNotice(
                owner=owner,
                services=[s for s, _ in svcs],
                most_critical_tier=min(tiers, default=None),
                nodes=sorted(own),
                must={d: sorted(duties[owner][d]) for d in OWNER_DUTIES if d in duties.get(owner, {})},
            )
        )
    return out


def gpu_deltas(base: LineageGraph, head: LineageGraph) -> list[GpuDelta]:
    """GPUs reserved by endpoints per (stack, accelerator): min and max replicas x GPUs per replica."""
    totals: dict[tuple[str, str], list[int]] = {}
    for side, graph in ((0, base), (1, head)):
        for ep in graph.iter_kind("Endpoint"):
            per = ep.spec_field("resources", "gpus_per_replica")
            key = (ep.spec_field("stack"), ep.spec_field("resources", "accelerator"))
            row = totals.setdefault(key, [0, 0, 0, 0])
            row[side * 2] += per * ep.spec_field("autoscaling", "min_replicas")
            row[side * 2 + 1] += per * ep.spec_field("autoscaling", "max_replicas")
    return [
        GpuDelta(stack=k[0], accelerator=k[1], before_min=v[0], before_max=v[1], after_min=v[2], after_max=v[3])
        for k, v in sorted(totals.items())
        if v[0:2] != v[2:4]
    ]
