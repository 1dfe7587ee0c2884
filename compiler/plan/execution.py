"""What apply executes, computed once at plan time: the documents, commands and objects of every action.

``plan --out`` saves this with the plan (``Plan.execution``) and ``apply``
without a file builds it from the plan it just made, so an apply never
compiles the working tree again, in the CLI or in an activity: a branch
checked out during a rollout, or a worker on another machine without the
specs, still carries out exactly the approved plan.

Pure (no I/O): documents are the compiler's normalized values (every default
filled in), so the runtime reads the same typed meaning ``validate`` gave them.
Per action: its target's document, the documents its executor reads (an
endpoint's model and stack), its timeout and, for endpoints, the revision and
its rendered ``vllm serve`` arguments. Per stack that a provision, rollout or
decommission touches: the provisioner's inputs (for Kubernetes stacks every
endpoint's rendered objects, per revision, so the Pulumi program at any canary
weight is assembled from the plan; only the router is rendered again, from the
plan's endpoint document, because its weights are what a rollout changes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from modelplane.compiler.graph.lineage import LineageGraph, declared_by
from modelplane.compiler.load.loader import paused_gc
from modelplane.compiler.plan.artifacts import served_artifact, served_digest
from modelplane.compiler.plan.ids import Target
from modelplane.compiler.plan.model import (
    Execution,
    ExecutionAction,
    NodeWrite,
    Plan,
    PlanAction,
    StackEndpoint,
    StackInputs,
)
from modelplane.compiler.plan.payloads import ExecutionDetails, RolloutDetails
from modelplane.specs.base import NodeId
from modelplane.specs.common import duration_seconds
from modelplane.specs.enums import Kind
from modelplane.specs.providers import registry as providers
from modelplane.specs.serving import Endpoint
from modelplane.stacks.engine import revision_id, vllm_args

STACK_ACTIONS = ("provision", "rollout", "decommission")


def executable(plan: Plan, head: LineageGraph, base: LineageGraph) -> Plan:
    """The plan with what apply needs to carry out each action (``plan.execution``).

    Built with ``model_construct``: the documents are the compiler's own validated values, and
    validating every ``dict[str, Any]`` again copied each one (most of this function's time).
    """
    with paused_gc():  # many small objects beside a large graph: collections would rescan the whole graph
        return _executable(plan, head, base)


def _executable(plan: Plan, head: LineageGraph, base: LineageGraph) -> Plan:
    norm: dict[tuple[int, NodeId], dict[str, Any]] = {}

    def doc(graph: LineageGraph, nid: NodeId) -> dict[str, Any] | None:
        node = graph.nodes.get(nid)
        if node is None:
            return None
        key = (id(graph), nid)
        if key not in norm:
            norm[key] = node.normalized()
        return norm[key]

    specs = getattr(head, "specs", None)
    declared = specs.project.secrets_for(specs.environment) if specs is not None else {}
    targets = _in_flight_targets(head)
    actions = [_with_secrets(_action(a, head, base, doc, targets), a.type, declared) for a in plan.actions]
    types = {a.id: a.type for a in plan.actions}
    stacks: dict[str, StackInputs] = {}
    for a in actions:
        stack = a.details.stack
        if stack and types[a.id] in STACK_ACTIONS and stack not in stacks:
            inputs = stack_inputs(head, base, str(stack), declared)
            if inputs is not None:
                stacks[str(stack)] = inputs
    return plan.model_copy(
        update={"execution": Execution.model_construct(actions=actions, records=_records(plan, head), stacks=stacks)}
    )


def _in_flight_targets(head: LineageGraph) -> dict[NodeId, int]:
    """Profile-derived autoscaler targets (compiler.capacity), where the head is a real compiled project."""
    if getattr(head, "specs", None) is None or not hasattr(head.specs, "root"):
        return {}
    from modelplane.compiler.capacity.stage import in_flight_targets

    return in_flight_targets(head)


def with_in_flight_target(doc: dict[str, Any], target: int | None) -> dict[str, Any]:
    """The endpoint document as the runtime reads it: a measured in-flight target filled in where the spec
    leaves it to the profile (the revision, computed from the spec as written, does not change)."""
    if target is None:
        return doc
    spec = dict(doc["spec"])
    # the autoscaler's target only: the router's per-replica cap stays what the spec declares (a derived target
    # as a capacity would cap replicas at twice it and shed a burst the replica could serve)
    spec["autoscaling"] = {**spec["autoscaling"], "target": target}
    return {**doc, "spec": spec}


def _action(
    a: PlanAction, head: LineageGraph, base: LineageGraph, doc: Any, targets: dict[NodeId, int] | None = None
) -> ExecutionAction:
    added: dict[str, Any] = {}  # ExecutionDetails' fields the execution part adds to the plan's payload
    node_doc = None
    context: dict[str, dict[str, Any]] = {}
    try:
        target: Target | None = a.target_id
    except ValueError:
        target = None
    nid = target.node if target is not None else None
    off = target.off if target is not None else None
    if nid is not None and nid.kind != "owner":
        deleted = a.type == "decommission" and (nid not in head.nodes or off is not None)
        graph = base if deleted else head
        node = graph.nodes.get(nid)
        if node is not None:
            node_doc = doc(graph, nid)
            spec = node_doc["spec"]
            if "timeout" in spec:
                added["timeout_s"] = duration_seconds(spec["timeout"])
            if node.kind == Kind.ENDPOINT:
                if graph is head and targets and nid in targets:
                    node_doc = with_in_flight_target(node_doc, targets[nid])
                stack = off.name if off is not None else spec["stack"]
                added["stack"] = stack
                for ref in (NodeId("stack", stack), NodeId("model", spec["model"])):
                    found = doc(graph, ref) or doc(base, ref)
                    if found is not None:
                        context[str(ref)] = found
                model = graph.nodes.get(NodeId("model", spec["model"])) or base.nodes.get(
                    NodeId("model", spec["model"])
                )
                # a revision is what serves: the endpoint's spec and the model's (same specs, same revision), and
                # the weights a retrain registered for the model; a rollout of the artifact this apply trains
                # gets its revision in the apply, from the training step's digest (compiler.plan.artifacts)
                trained = isinstance(a.details, RolloutDetails) and a.details.trained_by
                artifact = None if trained else served_artifact(base, model)
                digest = artifact["digest"] if artifact else None
                added["revision"] = revision_id(node.data, model.data if model else None, digest)
                if artifact is not None:
                    added["artifact"] = artifact
                if model is not None:
                    added["engine_args"] = vllm_args(node.data, model.data)
            elif node.kind == Kind.STACK:
                added["stack"] = nid.name
                context[str(nid)] = node_doc
            elif node.kind == Kind.EVALUATION:
                ref = NodeId("model", spec["model"])
                found = doc(graph, ref)
                if found is not None:
                    context[str(ref)] = found
    return ExecutionAction.model_construct(
        id=a.id, node=node_doc, context=context, details=ExecutionDetails.of(a.details, **added)
    )


def secrets_needed(action: ExecutionAction | Any, type_: str) -> list[str]:
    """The secrets an action resolves when it runs: a command's, or the engine arguments of an endpoint's
    replicas (a reference elsewhere, e.g. a dataset's uri, is passed on as a reference and never resolved)."""
    from modelplane.compiler.load.secrets import names_in

    if type_ in ("run-workflow", "evaluate") and action.node is not None:
        return names_in(action.node["spec"].get("command"))
    if type_ in ("rollout", "provision") and action.details.engine_args:
        return names_in(action.details.engine_args)
    return []


def _with_secrets(action: ExecutionAction, type_: str, declared: dict[str, dict[str, Any]]) -> ExecutionAction:
    """``details.secrets``: per secret the action resolves, its declared source (``{}``: the default), so the
    worker (which has only the plan) knows where to read it. Sources only, never a value."""
    names = secrets_needed(action, type_)
    if names:
        secrets = {n: declared.get(n, {}) for n in names}
        details = ExecutionDetails.constructed({**action.details.model_dump(), "secrets": secrets})
        return action.model_copy(update={"details": details})  # plan values are frozen
    return action


def _records(plan: Plan, head: LineageGraph) -> list[NodeWrite]:
    by_target: dict[str, list[str]] = {}
    for a in plan.actions:
        by_target.setdefault(str(a.target_id.node), []).append(a.id)
    moved_from = {m.to_id: m.from_id for m in plan.moved}
    out = []
    for c in plan.changes:
        waits = by_target.get(c.id, [])
        was = moved_from.pop(c.id, None)
        if c.change == "delete":
            out.append(NodeWrite.model_construct(id=c.id, op="delete", kind=c.kind, waits_for=waits, moved_from=was))
            continue
        node = head.nodes[NodeId.parse(c.id)]
        # the applied snapshot keeps the compiled document (what the next plan's diff reads back)
        out.append(_upsert(node, waits, was))
    # a renamed node with nothing else changed: its row is renamed (and rewritten) once nothing waits
    for to_id, from_id in sorted(moved_from.items()):
        renamed = head.nodes.get(NodeId.parse(to_id))
        if renamed is not None:
            out.append(_upsert(renamed, by_target.get(to_id, []), from_id))
    # the nodes that name a renamed one: the plan read their applied documents under the new name
    # (compiler.change.moves), so they show no change, but their rows still say the old one; rewritten
    # with the rename, the next plan (the `moved` record no longer applies) finds them unchanged too
    written = {w.id for w in out}
    for m in plan.moved:
        to = NodeId.parse(m.to_id)
        if to not in head:
            continue
        for edge in [*head.in_edges(to), *head.out_edges(to)]:
            naming = declared_by(edge)
            if naming != to and str(naming) not in written and naming in head:
                written.add(str(naming))
                out.append(_upsert(head.nodes[naming], by_target.get(str(naming), []), None))
    return out


def _upsert(node: Any, waits: list[str], moved_from: str | None) -> NodeWrite:
    return NodeWrite.model_construct(
        id=str(node.id),
        op="upsert",
        kind=node.kind,
        file=node.file,
        index=node.index,
        data=node.data,
        waits_for=waits,
        moved_from=moved_from,
    )


def stack_inputs(
    head: LineageGraph, base: LineageGraph, name: str, secrets: dict[str, dict[str, Any]] | None = None
) -> StackInputs | None:
    """The provisioner's inputs for one stack: for Kubernetes stacks, every object per endpoint revision."""
    sid = NodeId("stack", name)
    node = head.nodes.get(sid) or base.nodes.get(sid)
    if node is None:
        return None
    graph = head if sid in head.nodes else base
    data = node.normalized()
    spec = data["spec"]
    inputs = StackInputs(
        name=name,
        provider=spec["provider"],
        namespace=spec["namespace"],
        region=spec.get("region"),
        pools=list(spec["gpu_pools"]),
        settings=dict(spec["settings"]),
        pulumi=dict(spec["pulumi"]),
    )
    if providers.is_local(inputs.provider):
        return inputs  # local replicas are started from each action's engine arguments
    from modelplane.stacks.render import EndpointInput, _pool_for, render_stack, revision_objects

    # the stack's own objects (its namespace), rendered without its endpoints: routers are what a rollout
    # re-renders at each weight, and rendering every router here too cost more than the plan itself
    rendered = render_stack(cast(LineageGraph, _WithoutEndpoints(graph)), name)
    endpoints: dict[str, StackEndpoint] = {}
    targets = _in_flight_targets(head)
    for ep in graph.iter_kind("Endpoint"):
        if ep.spec["stack"] != name:
            continue
        objects: dict[str, list[dict[str, Any]]] = {}
        for g in (graph, base):  # the plan's revision, and the applied one a canary shifts traffic from
            cur = g.nodes.get(ep.id)
            model = g.nodes.get(NodeId("model", cur.spec["model"])) if cur is not None else None
            if cur is None or model is None or cur.spec.get("stack") != name:
                continue
            # the applied revision serves what its last rollout took out; the plan's, the registered weights
            trained = served_artifact(base, model)
            digest = served_digest(base, ep.id) if g is base else (trained["digest"] if trained else None)
            rev = revision_id(cur.data, model.data, digest)
            if rev not in objects:
                pool = _pool_for(rendered.pools, cur.spec["resources"]["accelerator"])
                spec = cast(Endpoint, cur.model).spec
                if g is head and ep.id in targets:  # the autoscaler's target from the profile, as locally
                    measured = spec.autoscaling.model_copy(update={"target": float(targets[ep.id])})
                    spec = spec.model_copy(update={"autoscaling": measured})
                typed = EndpointInput(cur.name, spec, model.model)  # type: ignore[arg-type]
                objects[rev] = revision_objects(typed, rev, rendered.namespace, pool, rendered.settings, secrets)
        endpoints[ep.name] = StackEndpoint(endpoint=ep.data, revision=next(iter(objects)), objects=objects)
    return inputs.model_copy(update={"objects": list(rendered.objects), "endpoints": endpoints})


class _WithoutEndpoints:
    """A graph view with the stack's documents and no endpoints (what ``render_stack`` reads)."""

    def __init__(self, graph: LineageGraph) -> None:
        self.nodes = graph.nodes

    def iter_kind(self, kind: str) -> Iterator[Any]:
        return iter(())
