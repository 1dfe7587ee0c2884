"""Each node's history, read from the state store: what ``modelplane show NODE`` prints and the docs
site draws as a timeline.

Pure over what the store returns (``HistorySource``): JSON-able ``TypedDict`` values, no printing.
For every node, the versions applied over time (which apply, plan, who, when, what changed); for a
model, each registered artifact with the workflow runs that produced it and their inputs' versions
at the time; for an evaluation, its metrics per run; for an endpoint, its revisions, its rollouts
with their verdicts and the weights they left. ``histories`` reads the store once for many nodes
(the site's thousands); ``node_history`` is one node.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any, NotRequired, Protocol, TypedDict

import orjson

from modelplane.errors import ModelplaneError, did_you_mean
from modelplane.runtime.state.ports import HistoryEntry, NodeVersion, RunRecord

ALL_APPLIES = 1_000_000_000
MAX_CHANGED = 20
"""At most this many changed fields are listed per version (the rest are counted)."""


class HistorySource(Protocol):
    """What this module reads of a store (``StateReader`` has it all)."""

    def node_versions(self, environment: str, node_id: str | None = None) -> list[NodeVersion]: ...
    def runs(self, environment: str, target: str | None = None) -> list[RunRecord]: ...
    def catalog(self, environment: str) -> list[dict[str, Any]]: ...
    def history(self, environment: str | None = None, limit: int = 20) -> list[HistoryEntry]: ...
    def outputs(self, environment: str) -> dict[str, dict[str, Any]]: ...


class Apply(TypedDict):
    apply_id: str
    plan_id: str | None
    who: str | None
    at: float
    when: str
    """``at`` as ISO 8601 UTC."""


class Version(Apply):
    serial: int
    op: str
    """``upsert`` (created or changed) or ``delete``."""
    version: str | None
    """``spec.version`` where the kind has one."""
    digest: str | None
    """A short hash of the applied document, where there is no ``spec.version`` to tell versions apart
    (None where there is one: hashing every document made a 10,000-node site's histories twice as slow)."""
    changed: list[str]
    """The fields that differ from the version before (``["created"]`` for the first)."""


class InputVersion(TypedDict):
    id: str
    version: str | None
    digest: str | None


class Run(Apply):
    action_id: str
    type: str
    status: str
    output: dict[str, Any]
    inputs: NotRequired[list[InputVersion]]
    """A workflow run's inputs as they were applied when it ran."""


class Artifact(Apply):
    version: str | None
    artifact: str | None
    digest: str | None
    """A retrain's artifact (no version bump): the digest of the weights the run made."""
    produced_by: list[Run]
    """The training workflow's run in the registering apply, else its last run before."""
    evaluations: list[Run]
    """The model's evaluations run in the registering apply (metrics, pass/fail)."""


class Rollout(Apply):
    status: str
    revision: str | None
    previous: str | None
    model_version: str | None
    first: bool
    artifact: str | None
    """The digest of the trained weights it rolled out or kept serving (a retrain's), else None."""
    rolled_back: bool
    reason: str | None
    verdicts: list[dict[str, Any]]
    weights: dict[str, int]
    """The weights the rollout left: the new revision at 100 once promoted, the stable one after a rollback."""


class NodeHistory(TypedDict):
    id: str
    kind: str
    environment: str
    exists: bool
    """Whether the node is applied now (not deleted since)."""
    versions: list[Version]
    runs: list[Run]
    """Every finished action on this node: workflow runs, evaluations (metrics), registrations, rollouts."""
    artifacts: NotRequired[list[Artifact]]
    metrics: NotRequired[list[Run]]
    rollouts: NotRequired[list[Rollout]]
    revisions: NotRequired[list[str]]
    weights: NotRequired[dict[str, int]]
    outputs: NotRequired[dict[str, Any]]


def node_history(source: HistorySource, environment: str, node_id: str) -> NodeHistory:
    """One node's history; an error naming the node (with the nearest applied names) if it never was applied."""
    found = histories(source, environment, [node_id])
    if node_id not in found:
        known = sorted({v.id for v in source.node_versions(environment)})
        raise ModelplaneError(
            f"{node_id} was never applied in {environment}",
            hint=did_you_mean(node_id, known)
            or ("nothing is applied yet: run `modelplane apply`" if not known else "`modelplane status` lists what is"),
        )
    return found[node_id]


def histories(source: HistorySource, environment: str, ids: Iterable[str] | None = None) -> dict[str, NodeHistory]:
    """The history of every node ever applied in ``environment`` (or of ``ids``), reading the store once."""
    versions: dict[str, list[NodeVersion]] = {}
    for v in source.node_versions(environment):
        versions.setdefault(v.id, []).append(v)
    runs: dict[str, list[RunRecord]] = {}
    for r in source.runs(environment):
        runs.setdefault(r.target, []).append(r)
    applies = {h.apply_id: h for h in source.history(environment, ALL_APPLIES)}
    ctx = _Context(environment, versions, runs, applies, source.catalog(environment), source.outputs(environment))
    wanted = list(versions) if ids is None else [i for i in ids if i in versions]
    return {i: ctx.node(i) for i in wanted}


class _Context:
    def __init__(
        self,
        environment: str,
        versions: dict[str, list[NodeVersion]],
        runs: dict[str, list[RunRecord]],
        applies: dict[str, HistoryEntry],
        catalog: list[dict[str, Any]],
        outputs: dict[str, dict[str, Any]],
    ) -> None:
        self.environment = environment
        self.versions = versions
        self.runs = runs
        self.applies = applies
        self.catalog: dict[str, list[dict[str, Any]]] = {}
        for entry in catalog:
            self.catalog.setdefault(str(entry["id"]), []).append(entry)
        self.outputs = outputs
        # model name -> the evaluations that ever named it: built once, so many nodes' histories stay linear
        self.evaluations: dict[str, list[str]] = {}
        for i, rows in versions.items():
            if i.startswith("evaluation/"):
                models = {((v.data or {}).get("spec") or {}).get("model") for v in rows}
                for m in sorted(str(m) for m in models if m):
                    self.evaluations.setdefault(m, []).append(i)

    def apply(self, apply_id: str, at: float) -> Apply:
        h = self.applies.get(apply_id)
        return {
            "apply_id": apply_id,
            "plan_id": h.plan_id if h else None,
            "who": h.requested_by if h else None,
            "at": at,
            "when": _iso(at),
        }

    def node(self, node_id: str) -> NodeHistory:
        kind = node_id.partition("/")[0]
        rows = self.versions[node_id]
        out: NodeHistory = {
            "id": node_id,
            "kind": kind,
            "environment": self.environment,
            "exists": rows[-1].op not in ("delete", "moved"),
            "versions": _versions(self, rows),
            "runs": [self.run(r) for r in self.runs.get(node_id, [])],
        }
        latest = next((v.data for v in reversed(rows) if v.data is not None), None) or {}
        if kind == "model":
            out["artifacts"] = self.artifacts(node_id, rows)
        elif kind == "evaluation":
            out["metrics"] = [r for r in out["runs"] if r["type"] == "evaluate"]
        elif kind == "endpoint":
            rollouts = [self.rollout(r, node_id, latest) for r in self.runs.get(node_id, []) if r.type == "rollout"]
            out["rollouts"] = rollouts
            out["revisions"] = list(dict.fromkeys(r["revision"] for r in rollouts if r["revision"]))
            out["weights"] = rollouts[-1]["weights"] if rollouts else {}
        if node_id in self.outputs:
            out["outputs"] = self.outputs[node_id]
        return out

    def run(self, r: RunRecord) -> Run:
        # "inputs" is added below where the run has any
        run: Run = {
            **self.apply(r.apply_id, r.at),  # type: ignore[typeddict-item]
            "action_id": r.action_id,
            "type": r.type,
            "status": r.status,
            "output": r.output,
        }
        if r.type == "run-workflow":
            run["inputs"] = self.inputs_at(r.target, r.serial, r.apply_id)
        return run

    def as_of(self, node_id: str, serial: int, apply_id: str) -> NodeVersion | None:
        """The node's version when something at ``serial`` ran: the last one written at or before it, else
        the one its apply wrote later (a node is recorded once its own actions are done)."""
        rows = self.versions.get(node_id, [])
        before = [v for v in rows if v.serial <= serial]
        if before:
            return before[-1]
        return next((v for v in rows if v.apply_id == apply_id), None)

    def inputs_at(self, workflow_id: str, serial: int, apply_id: str) -> list[InputVersion]:
        wf = self.as_of(workflow_id, serial, apply_id)
        declared = ((wf.data or {}).get("spec") or {}).get("inputs") or [] if wf else []
        out: list[InputVersion] = []
        for ref in declared:
            ref_id = ref if isinstance(ref, str) else str(ref.get("id") or ref.get("dataset") or ref)
            v = self.as_of(ref_id, serial, apply_id)
            data = v.data if v else None
            version = _version_of(data)
            out.append({"id": ref_id, "version": version, "digest": None if version else _digest(data)})
        return out

    def artifacts(self, node_id: str, rows: list[NodeVersion]) -> list[Artifact]:
        """Each registration of the model with the runs of its training workflow in that apply."""
        out: list[Artifact] = []
        for entry in self.catalog.get(node_id, []):
            apply_id, at = entry["apply_id"], float(entry["registered_at"])
            data = next((v.data for v in reversed(rows) if v.apply_id == apply_id and v.data), None)
            if data is None:
                data = next((v.data for v in reversed(rows) if v.at <= at and v.data), None)
            spec = (data or {}).get("spec") or {}
            workflow = (spec.get("trained_on") or {}).get("workflow")
            trained = [r for r in self.runs.get(f"workflow/{workflow}", []) if r.type == "run-workflow"]
            # the run of this apply, else the last one before it (a version bump need not retrain)
            produced = [r for r in trained if r.apply_id == apply_id] or [r for r in trained if r.at <= at][-1:]
            evaluated = [
                self.run(r)
                for ev in self.evaluations_of(node_id)
                for r in self.runs.get(ev, [])
                if r.type == "evaluate" and r.apply_id == apply_id
            ]
            made = entry.get("trained")  # a retrain's registration: the digest of the weights it made
            out.append(
                {
                    **self.apply(apply_id, at),
                    "version": entry.get("version"),
                    "artifact": spec.get("artifact"),
                    "digest": str(made["digest"]) if isinstance(made, dict) and made.get("digest") else None,
                    "produced_by": [self.run(r) for r in produced],
                    "evaluations": evaluated,
                }
            )
        return out

    def evaluations_of(self, model_id: str) -> list[str]:
        return self.evaluations.get(model_id.partition("/")[2], [])

    def rollout(self, r: RunRecord, node_id: str, endpoint: dict[str, Any]) -> Rollout:
        o = r.output
        rolled_back = bool(o.get("rolled_back"))
        revision = o.get("revision")
        previous = o.get("previous") or o.get("stable")
        weights: dict[str, int] = {}
        if r.status == "succeeded" and revision:
            weights = {str(revision): 100}
        elif previous:
            weights = {str(previous): 100}
        at_version = self.as_of(node_id, r.serial, r.apply_id)
        model = ((at_version.data if at_version else None) or endpoint).get("spec", {}).get("model")
        model_v = self.as_of(f"model/{model}", r.serial, r.apply_id) if model else None
        return {
            **self.apply(r.apply_id, r.at),
            "status": r.status,
            "revision": str(revision) if revision else None,
            "previous": str(previous) if previous else None,
            "model_version": _version_of(model_v.data if model_v else None),
            "first": bool(o.get("first")),
            "rolled_back": rolled_back,
            "reason": o.get("reason") or o.get("error") or None,
            "verdicts": list(o.get("analysis") or []),
            "weights": weights,
            "artifact": str(o["artifact"]) if o.get("artifact") else None,
        }


def metrics_summary(output: dict[str, Any]) -> str:
    """An evaluation's metrics and verdict in one line (``exact_match=0.42 toxicity=0.002 passed``)."""
    metrics = output.get("metrics") or {}
    shown = " ".join(f"{k}={v}" for k, v in sorted(metrics.items()))
    failed = output.get("failed") or []
    verdict = f"FAILED ({'; '.join(failed)})" if failed else "passed"
    return f"{shown} {verdict}".strip() if metrics or failed else ""


def run_summary(r: Run) -> str:
    """What a run returned, in one line: an evaluation's metrics, a workflow run's exit code and its inputs'
    versions, a registered version, a rollout's revision; a failure's first line. Unescaped: ``show`` and
    the docs site each escape it for where they write it."""
    out = r["output"]
    detail = ""
    if r["type"] == "evaluate":
        detail = metrics_summary(out)
    elif r["type"] == "run-workflow":
        inputs = ", ".join(f"{i['id']}@{i['version'] or '#' + (i['digest'] or '?')}" for i in r.get("inputs", []))
        detail = f"exit {out.get('exit_code', '?')}" + (f"; inputs {inputs}" if inputs else "")
    elif r["type"] == "register" and out.get("version"):
        detail = f"version {out['version']}"
    elif r["type"] == "rollout":
        detail = str(out.get("revision") or "")
    if r["status"] == "failed" and out.get("error"):
        detail = (detail + "; " if detail else "") + str(out["error"]).splitlines()[0]
    return detail


def verdict_summary(verdict: dict[str, Any]) -> str:
    """One analysed step of a rollout (``step 1 20%: pass (analysis) ...``)."""
    step = verdict.get("step")
    where = f"step {step + 1} " if isinstance(step, int) else ""
    return (
        f"{where}{verdict.get('weight', '?')}%: {verdict.get('result', '?')} "
        f"({verdict.get('gate', '?')}) {verdict.get('reason', '')}"
    ).rstrip()


def rollout_summary(ro: Rollout) -> str:
    """A rollout in one line: the revision, its model's version, where it came from and how it ended."""
    model = f" (model {ro['model_version']})" if ro["model_version"] else ""
    if ro["artifact"]:
        model += f" (trained {ro['artifact'][:19]})"
    how = "first deployment" if ro["first"] else "rolled back" if ro["rolled_back"] else ro["status"]
    since = f" from {ro['previous']}" if ro["previous"] else ""
    return f"{ro['revision'] or '?'}{model}{since}: {how}"


def _versions(ctx: _Context, rows: list[NodeVersion]) -> list[Version]:
    out: list[Version] = []
    before: dict[str, Any] | None = None
    for v in rows:
        if v.op == "delete":
            changed = ["deleted"]
        elif v.op == "moved":
            changed = ["renamed (a `moved` record): its history goes on under the new name"]
        elif before is None:
            changed = ["created"]
        else:
            changed = _changed(before, v.data or {})
        if len(changed) > MAX_CHANGED:
            changed = [*changed[:MAX_CHANGED], f"... {len(changed) - MAX_CHANGED} more"]
        if v.op not in ("delete", "moved") and before is not None and not changed:
            before = v.data
            continue  # re-recorded unchanged (a resumed apply): not a new version
        out.append(
            {
                **ctx.apply(v.apply_id, v.at),
                "serial": v.serial,
                "op": v.op,
                "version": (version := _version_of(v.data)),
                "digest": None if version else _digest(v.data),
                "changed": changed,
            }
        )
        before = v.data if v.op not in ("delete", "moved") else None
    return out


def _changed(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _changed(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [path or "."]


def _version_of(data: dict[str, Any] | None) -> str | None:
    v = ((data or {}).get("spec") or {}).get("version")
    return None if v is None else str(v)


def _digest(data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    try:  # orjson: a tenth of json's time, which at 10,000 nodes is most of a site's history
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits, a key that is not a string
        raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return hashlib.blake2b(raw, digest_size=5).hexdigest()


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))  # 5x datetime's cost at 20,000 events
