"""OpenLineage events for what an apply does, built with openlineage-python's own classes (pure: no I/O).

The mapping (docs/decisions.md, "OpenLineage out"):

- a Dataset or Feature is an OpenLineage dataset; a Model is a dataset of type MODEL
  (``DatasetTypeDatasetFacet``). Each is sent as a ``DatasetEvent`` when applied, with its declared
  upstreams in a ``LineageDatasetFacet`` (``derived_from``, a feature's inputs, what a model is
  trained on and the workflow that trains it), its columns, owner and description;
- a Workflow or Evaluation is a BATCH job, an Endpoint or Service a SERVICE job (``JobTypeJobFacet``).
  Each is sent as a ``JobEvent`` when applied: its declared inputs and outputs, and the same edges in
  a ``LineageJobFacet`` (declared lineage; replace semantics);
- each workflow run, evaluation and rollout is a run of its node's job: ``START`` when it begins,
  ``COMPLETE`` or ``FAIL`` when it ends; an evaluation carries its metrics against their thresholds
  in a ``TestRunFacet`` (pass/fail per metric, severity ``error`` when blocking), a rollout its
  verdicts per step; a failure its message (``ErrorMessageRunFacet``).

Stacks are infrastructure, not lineage: no event. Every name is the node id (``model/tiny-chat``) in
one namespace per project and environment.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import attr
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    JobFacet,
    RunFacet,
    dataset_type_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    lineage,
    ownership_dataset,
    ownership_job,
    schema_dataset,
    test_run,
)

from modelplane import __version__
from modelplane.specs.kinds import registry
from modelplane.specs.refs import find_refs, reference_paths

PRODUCER = f"https://github.com/modelplane/modelplane/tree/v{__version__}"
INTEGRATION = "MODELPLANE"
DATASET_TYPES: dict[str, str] = {
    e.id_kind: e.lineage.dataset_type for e in registry.entries() if e.lineage and e.lineage.dataset_type
}
"""kind: datasetType, for the kinds OpenLineage sees as datasets (each kind's ``lineage`` in specs/kinds/)."""
DATASET_KINDS = tuple(DATASET_TYPES)
JOB_TYPES: dict[str, tuple[str, str]] = {
    e.id_kind: e.lineage.job for e in registry.entries() if e.lineage and e.lineage.job
}
"""kind: (processingType, jobType), for the kinds OpenLineage sees as jobs."""
RUN_ACTIONS = {"run-workflow": "workflow", "evaluate": "evaluation", "rollout": "endpoint"}
"""The action types that are runs, and the kind of node whose job runs."""

LineageInput = lineage.LineageDatasetInput | lineage.LineageJobInput
NodeEvent = JobEvent | DatasetEvent


def run_id(key: str) -> str:
    """The same run id for a run's START and its end, wherever each is sent from (the action's key)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelplane:{key}"))


def now() -> str:
    return datetime.now(UTC).isoformat()


def node_event(namespace: str, node_id: str, data: dict[str, Any], at: str | None = None) -> NodeEvent | None:
    """The event that declares an applied node and its lineage; None for a kind that has none (stacks)."""
    kind = node_id.partition("/")[0]
    spec: dict[str, Any] = data.get("spec") or {}
    meta: dict[str, Any] = data.get("metadata") or {}
    when = at or now()
    if kind in DATASET_KINDS:
        facets: dict[str, Any] = {
            "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(
                datasetType=DATASET_TYPES[kind],
                subType=kind.upper(),
            ),
            "lineage": lineage.LineageDatasetFacet(inputs=list(_upstreams(namespace, kind, spec))),
        }
        columns = _columns(kind, spec)
        if columns:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=c["name"], type=c.get("type")) for c in columns]
            )
        if meta.get("description"):
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(description=meta["description"])
        if meta.get("owner"):
            facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
                owners=[ownership_dataset.Owner(name=str(meta["owner"]), type="TEAM")]
            )
        return DatasetEvent(eventTime=when, producer=PRODUCER, dataset=StaticDataset(namespace, node_id, facets=facets))
    if kind not in JOB_TYPES:
        return None
    inputs, outputs = _job_edges(kind, spec)
    entries: list[lineage.LineageJobEntry | lineage.LineageDatasetEntry] = [
        lineage.LineageJobEntry(type="JOB", inputs=[_input(namespace, ref) for ref in inputs])
    ]
    entries += [
        lineage.LineageDatasetEntry(
            namespace=namespace,
            name=out,
            type="DATASET",
            inputs=[lineage.LineageJobInput(type="JOB")],  # the event's own job feeds it
        )
        for out in outputs
    ]
    job_facets: dict[str, JobFacet] = {**_job_facets(kind, meta), "lineage": lineage.LineageJobFacet(entries=entries)}
    return JobEvent(
        eventTime=when,
        producer=PRODUCER,
        job=Job(namespace=namespace, name=node_id, facets=job_facets),
        inputs=[InputDataset(namespace, ref) for ref in inputs if ref.partition("/")[0] in DATASET_KINDS],
        outputs=[OutputDataset(namespace, ref) for ref in outputs],
    )


def run_event(
    namespace: str,
    state: str,
    key: str,
    action_type: str,
    target: str,
    node: dict[str, Any] | None,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    at: str | None = None,
) -> RunEvent:
    """``START``, ``COMPLETE`` or ``FAIL`` of one run (a workflow run, an evaluation, a rollout)."""
    kind = target.partition("/")[0]
    spec: dict[str, Any] = (node or {}).get("spec") or {}
    meta: dict[str, Any] = (node or {}).get("metadata") or {}
    run_facets: dict[str, RunFacet] = {}
    out = output or {}
    if action_type == "evaluate" and state != "START" and "metrics" in out:
        run_facets["test"] = _tests(spec, out)
    if action_type == "rollout" and state != "START":
        run_facets["modelplane_rollout"] = _rollout_facet(out)
    if state == "FAIL":
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=(error or "failed")[:4000], programmingLanguage="python"
        )
    inputs, outputs = _job_edges(kind, spec) if node else ([], [])
    return RunEvent(
        eventType=RunState(state),
        eventTime=at or now(),
        producer=PRODUCER,
        run=Run(runId=run_id(key), facets=run_facets),
        job=Job(namespace=namespace, name=target, facets=_job_facets(kind, meta)),
        inputs=[InputDataset(namespace, ref) for ref in inputs if ref.partition("/")[0] in DATASET_KINDS],
        outputs=[OutputDataset(namespace, ref) for ref in outputs],
    )


def _job_facets(kind: str, meta: dict[str, Any]) -> dict[str, JobFacet]:
    processing, job_type = JOB_TYPES.get(kind, ("BATCH", kind.upper()))
    facets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(processingType=processing, integration=INTEGRATION, jobType=job_type)
    }
    if meta.get("description"):
        facets["documentation"] = documentation_job.DocumentationJobFacet(description=meta["description"])
    if meta.get("owner"):
        facets["ownership"] = ownership_job.OwnershipJobFacet(
            owners=[ownership_job.Owner(name=str(meta["owner"]), type="TEAM")]
        )
    return facets


def _job_edges(kind: str, spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A job's declared inputs and outputs as node ids (endpoints among inputs are jobs, not datasets)."""
    if kind not in JOB_TYPES:
        return [], []
    return _references(kind, spec, "upstream"), _references(kind, spec, "downstream")


def _upstreams(namespace: str, kind: str, spec: dict[str, Any]) -> list[LineageInput]:
    """What a dataset, feature or model is made from (a model: what it is trained on, and its workflow)."""
    return [_input(namespace, r) for r in _references(kind, spec, "upstream")]


def _references(kind: str, spec: dict[str, Any], direction: str) -> list[str]:
    """The node ids a node's references name in one direction, in declaration order, leaving out the kinds
    OpenLineage does not see (an endpoint's stack)."""
    out = []
    for found in find_refs({"spec": spec}, reference_paths(registry.by_id_kind(kind).model)):
        if found.ref.direction != direction:
            continue
        ref = found.value if found.ref.qualified else f"{found.ref.kinds[0]}/{found.value}"
        if ref.partition("/")[0] in _SEEN:
            out.append(ref)
    return out


_SEEN = frozenset(e.id_kind for e in registry.entries() if e.lineage is not None)
"""The kinds OpenLineage sees (as datasets or jobs)."""


def _input(namespace: str, ref: str) -> LineageInput:
    if ref.partition("/")[0] in DATASET_KINDS:
        return lineage.LineageDatasetInput(namespace=namespace, name=ref, type="DATASET")
    return lineage.LineageJobInput(namespace=namespace, name=ref, type="JOB")


def _columns(kind: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Its kind's column list (``diff.columns`` in specs/kinds/), or none."""
    node: Any = spec
    for key in registry.by_id_kind(kind).diff.columns or ():
        node = node.get(key) if isinstance(node, dict) else None
    return list(node or []) if node is not spec else []


def _tests(spec: dict[str, Any], out: dict[str, Any]) -> test_run.TestRunFacet:
    """Each declared metric as a test: its threshold, the value the evaluation wrote, pass or fail."""
    metrics: dict[str, Any] = out.get("metrics") or {}
    failed: list[str] = [str(f) for f in out.get("failed") or []]
    severity = "error" if out.get("blocking", spec.get("blocking", True)) else "warn"
    tests = []
    for m in spec.get("metrics") or []:
        name = str(m["name"])
        bounds = [f">= {m['min']}" for _ in [0] if m.get("min") is not None]
        bounds += [f"<= {m['max']}" for _ in [0] if m.get("max") is not None]
        value = metrics.get(name)
        tests.append(
            test_run.TestExecution(
                name=name,
                status="fail"
                if value is None or any(f.startswith((name + "=", name + " ")) for f in failed)
                else "pass",
                severity=severity,
                type="metric_threshold",
                expected=" and ".join(bounds) or None,
                actual=None if value is None else str(value),
            )
        )
    return test_run.TestRunFacet(tests=tests)


@attr.define
class RolloutRunFacet(RunFacet):
    """A custom run facet (``modelplane_rollout``, prefixed as the spec asks of custom facets): the rollout's
    revisions, whether it rolled back and why, and the verdict of every analysed step."""

    revision: str | None = attr.field(default=None)
    previous: str | None = attr.field(default=None)
    rolledBack: bool = attr.field(default=False)
    reason: str | None = attr.field(default=None)
    verdicts: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return ROLLOUT_FACET_SCHEMA


ROLLOUT_FACET_SCHEMA = "https://modelplane.dev/spec/facets/1-0-0/ModelplaneRolloutRunFacet.json"


def _rollout_facet(out: dict[str, Any]) -> RolloutRunFacet:
    previous = out.get("previous") or out.get("stable")
    return RolloutRunFacet(
        producer=PRODUCER,
        revision=str(out["revision"]) if out.get("revision") else None,
        previous=str(previous) if previous else None,
        rolledBack=bool(out.get("rolled_back")),
        reason=out.get("reason"),
        verdicts=[
            {k: v.get(k) for k in ("step", "weight", "gate", "result", "reason") if k in v}
            for v in out.get("analysis") or []
        ],
    )
