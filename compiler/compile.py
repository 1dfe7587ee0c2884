"""The compiler's front door: specs -> checked lineage graph, and graph + base -> plan.

``compile_graph`` runs scan -> load -> link -> check; ``make_plan`` adds diff
-> impact -> plan against either the applied state or a git ref.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelplane.compiler.change.diff import Diff, diff
from modelplane.compiler.change.impact import Impact, compute
from modelplane.compiler.change.moves import effective_moves, moved_in
from modelplane.compiler.change.state import AppliedState, EmptyState, PendingAction, StateReader
from modelplane.compiler.compiled import Compiled
from modelplane.compiler.graph.checks import check, cycle_diagnostic
from modelplane.compiler.graph.fingerprint import fingerprints
from modelplane.compiler.graph.lineage import CycleError, LineageGraph, build
from modelplane.compiler.graph.selectors import selection
from modelplane.compiler.incremental import graph_cache
from modelplane.compiler.incremental.overlay import base_from_head
from modelplane.compiler.load.loader import load_scanned, paused_gc
from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.compiler.plan.actions import build_plan
from modelplane.compiler.plan.model import BaseRef, CapacityLine, Plan, PlanDiagnostic, PlanMove
from modelplane.compiler.source.files import GitSource, Source
from modelplane.compiler.source.scan import Scan, scan
from modelplane.compiler.timings import timed
from modelplane.errors import Diagnostic, GraphError, Location, PlanError, SpecError
from modelplane.specs.base import NodeId, normalize


@timed("compile (other)")
def compile_graph(
    root: Path,
    env: str | None = None,
    source: Source | None = None,
    use_cache: bool = True,
    strict: bool = True,
    scanned: Scan | None = None,
    run_checks: bool = True,
) -> Compiled:
    """Load, link and check; raises ``SpecError``/``GraphError`` with every problem found.

    With ``strict=False`` graph-rule errors (not load errors, and never cycles)
    are returned instead, so ``plan`` can explain the ones a change introduced.
    """
    sc = scanned or scan(root, env, source)
    if use_cache and not sc.problems:
        with paused_gc():
            hit = graph_cache.load(root, sc, need_checked=run_checks)
        if hit is not None:
            return hit
    specs = load_scanned(sc, use_cache)
    with paused_gc():
        graph, problems = _build_and_check(specs, run_checks)
        errors = [d for d in problems if d.severity == "error"]
        if errors and (strict or any(d.code == "cycle" for d in errors)):
            raise GraphError(problems)
        compiled = Compiled(graph, fingerprints(graph), [d for d in problems if d.severity != "error"], errors)
        if use_cache and not errors:
            graph_cache.save(root, compiled, checked=run_checks)
        return compiled


def _build_and_check(specs: SpecSet, run_checks: bool = True) -> tuple[LineageGraph, list[Diagnostic]]:
    """The graph and its rules: the one place both ``compile_graph`` and ``check_specs`` get them."""
    graph = build(specs)
    return graph, check(graph) if run_checks else []


@timed("compile (other)")
def check_specs(root: Path, env: str | None = None, *, use_cache: bool = True, scanned: Scan | None = None) -> Compiled:
    """What ``validate`` runs: every check ``plan`` runs (load, references, graph rules).

    Raises ``SpecError``/``GraphError`` as ``compile_graph`` does. A cached compiled graph
    answers at once; otherwise the graph is built and checked but not fingerprinted or
    cached (a third of a cold validate), so the result has no fingerprints.
    """
    sc = scanned or scan(root, env)
    if use_cache and not sc.problems:
        with paused_gc():
            hit = graph_cache.load(root, sc)
        if hit is not None:
            return hit
    specs = load_scanned(sc, use_cache)
    with paused_gc():
        graph, problems = _build_and_check(specs)
    if any(d.severity == "error" for d in problems):
        raise GraphError(problems)
    return Compiled(graph, {}, problems, [])


def graph_from_state(head: SpecSet, state: AppliedState) -> LineageGraph:
    nodes = {}
    for key, applied in state.nodes.items():
        nid = NodeId.parse(key)
        same = head.nodes.get(nid)
        data = normalized_applied(applied.kind, applied.data, same)
        # the head's document, where the state's equals it, with its hashes (one hashing per document)
        own = same.own if same is not None and data is same.data else None
        nodes[nid] = SpecNode(nid, applied.kind, applied.file, applied.index, data, own=own)
    specs = SpecSet(head.root, head.project, head.environment, dict(sorted(nodes.items())))
    graph = build(specs, partial=True)
    # the weights retrains registered: what the applied revisions serve (compiler.plan.artifacts)
    graph.trained = {NodeId.parse(k): a for k, a in state.artifacts.items()}
    graph.served = {NodeId.parse(k): d for k, d in state.served.items()}
    return graph


def normalized_applied(kind: str, data: dict[str, Any], head: SpecNode | None) -> dict[str, Any]:
    """An applied document in normalized form, so it compares with the head's.

    A state recorded by this version holds normalized documents already, and an
    unchanged one equals the head's: that one is shared (and hashed once). Any
    other (recorded before documents were normalized, or changed since) is
    validated and normalized; one the current models reject is compared as it
    was recorded, so the diff still shows it.
    """
    if head is not None and head.data == data:
        return head.data
    from modelplane.specs.base import model_class

    try:
        return normalize(model_class(kind).model_validate(data))
    except (ValidationError, KeyError):
        return data


@dataclass
class PlanResult:
    """A plan and what it was made of: the compiled head, the base graph, the diff and its impact."""

    plan: Plan
    head: Compiled
    base: LineageGraph
    impact: Impact
    diff: Diff
    errors: list[Diagnostic]
    """Breaking impact that was not acknowledged: the plan is shown but must not be applied."""
    warnings: list[Diagnostic]


@timed("compile (other)")
def make_plan(
    root: Path,
    env: str | None = None,
    *,
    base_ref: str | None = None,
    state: StateReader | None = None,
    allow_breaking: bool = False,
    use_cache: bool = True,
    head_scan: Scan | None = None,
    base_source: GitSource | None = None,
    target: str | None = None,
    exclude: str | None = None,
) -> PlanResult:
    """Plan the specs of ``root`` against the applied state, or against git ref ``base_ref``.

    ``base_source``: the ref's files, if the caller already opened them. ``target``: a selector
    (``graph --select`` grammar, ``state:modified`` meaning what this plan compares with); only
    the changes of the nodes it picks are planned, with their whole impact, like Terraform's
    ``-target``: the other changes stay for a later plan. ``exclude``: a selector whose nodes'
    changes are left out (dbt's ``--exclude``), with or without ``target``.
    """
    head_scan = head_scan or scan(root, env)
    # opened first: its git listings run on another core while the head compiles
    git = base_source or (GitSource.for_project(root, base_ref) if base_ref is not None else None)
    try:
        return _make_plan(root, env, base_ref, git, state, allow_breaking, use_cache, head_scan, target, exclude)
    finally:
        if git is not None:
            git.close()


def _make_plan(
    root: Path,
    env: str | None,
    base_ref: str | None,
    git: GitSource | None,
    state: StateReader | None,
    allow_breaking: bool,
    use_cache: bool,
    head_scan: Scan,
    target: str | None = None,
    exclude: str | None = None,
) -> PlanResult:
    base_graph: LineageGraph
    picked_warnings: list[str] = []
    moves: list[tuple[str, str]] = []
    base_fingerprints = None
    pending: dict[str, PendingAction] = {}
    # the head compiles first: files that did not change are then validated once, and never read from git
    head: Compiled | None = None
    head_error: SpecError | None = None
    try:
        head = compile_graph(root, env, None, use_cache, strict=False, scanned=head_scan)
    except SpecError as exc:
        head_error = exc
    if base_ref is not None:
        assert git is not None
        git.borrow(head_scan.hashes)
        try:
            base_scan = scan(root, env, git)
            overlaid = None
            if head is not None:
                with paused_gc():
                    overlaid = base_from_head(head, head_scan, base_scan, use_cache)
            # the base's own graph rules were checked when it merged; a cycle still stops it (topo order)
            base_compiled = overlaid or compile_graph(root, env, git, use_cache, run_checks=False, scanned=base_scan)
        except (SpecError, CycleError) as exc:
            found = exc.diagnostics if isinstance(exc, SpecError) else [cycle_diagnostic(exc.graph, exc.path)]
            raise PlanError(
                [
                    Diagnostic(
                        "invalid-base",
                        f"the specs at `{base_ref}` do not compile, so there is nothing sound to compare against",
                        hint="fix the base branch first, or plan against the applied state (drop --base)",
                    ),
                    *found,
                ]
            ) from None
        base_graph = base_compiled.graph
        base_fingerprints = base_compiled.fingerprints
        serial = 0
        ref = BaseRef(kind="git", ref=base_ref, commit=git.commit, fingerprint=base_compiled.specs.fingerprint)
        if head_error is not None:
            raise type(head_error)(_explain_deletions(head_error.diagnostics, base_graph)) from None
    if head_error is not None:
        raise head_error
    assert head is not None
    if base_ref is None:
        applied = (state or EmptyState()).applied(head.specs.environment)
        moves = effective_moves(applied, head.specs.project.moved)
        applied = moved_in(applied, moves)
        base_graph = graph_from_state(head.specs, applied)
        serial = applied.serial
        pending = applied.pending
        ref = BaseRef(kind="state", serial=serial)
    with paused_gc():
        base_fp = base_fingerprints if base_fingerprints is not None else fingerprints(base_graph)
        changes = diff(base_graph, head.graph, base_fp, head.fingerprints)
        if target is not None or exclude is not None:
            picked = selection(head.graph, target, changes.changes, exclude)
            picked_warnings = picked.warnings
            changes = Diff({n: c for n, c in changes.changes.items() if n in picked.nodes})
        impact = compute(head.graph, changes)
        errors = _broken(head.graph, base_graph, impact)
        # a column a feature reads that this change removed is explained by `errors`; anything else stays an error
        explained = {(d.location.file, d.location.line, d.location.column) for d in errors if d.location}
        other = [
            d
            for d in head.errors
            if not (
                d.code == "unknown-column"
                and d.location
                and (d.location.file, d.location.line, d.location.column) in explained
            )
        ]
        if other:
            raise GraphError(other + errors)
        shown = errors if not allow_breaking else [_as_warning(d) for d in errors]
        plan = build_plan(
            project=head.specs.project.name,
            environment=head.specs.environment,
            head=head.graph,
            base=base_graph,
            diff=changes,
            impact=impact,
            base_ref=ref,
            state_serial=serial,
            diagnostics=[
                PlanDiagnostic.of(d) for d in [*shown, *head.warnings, *map(_selector_warning, picked_warnings)]
            ],
            pending=pending,
        )
        plan = plan.model_copy(
            update={
                "capacity": _capacity(head.graph, base_graph, git),
                "moved": [PlanMove(from_id=a, to_id=b) for a, b in moves],
            }
        )
        if target is not None or exclude is not None:
            shown_target = (target or "*") + (f" --exclude {exclude}" if exclude is not None else "")
            plan = plan.model_copy(update={"target": shown_target})
    return PlanResult(plan, head, base_graph, impact, changes, [] if allow_breaking else errors, head.warnings)


def _capacity(head: LineageGraph, base: LineageGraph, git: GitSource | None) -> list[CapacityLine]:
    """Every endpoint's capacity and cost, with the base's: a git base reads the profiles the ref holds."""
    from modelplane.compiler.capacity.lines import capacity_lines
    from modelplane.compiler.capacity.stage import profiles_of

    head_profiles = profiles_of(head)
    base_profiles = profiles_of(base, git) if git is not None else head_profiles
    return capacity_lines(head, head_profiles, base, base_profiles)


def _as_warning(d: Diagnostic) -> Diagnostic:
    return Diagnostic(d.code, d.message, d.location, d.hint, d.snippet, d.width, d.related, severity="warning")


def _selector_warning(message: str) -> Diagnostic:
    return Diagnostic("selector-matches-nothing", message, severity="warning")


def _broken(head: LineageGraph, base: LineageGraph, impact: Impact) -> list[Diagnostic]:
    """A diagnostic at every place that reads something this change removes."""
    out = []
    for a in impact.by_category("broken"):
        node = head.nodes[a.id]
        for i, inp in enumerate(node.spec["inputs"]):  # only features read columns, so only they break
            for j, col in enumerate(inp["columns"]):
                if col not in a.broken_columns:
                    continue
                ds_id = NodeId("dataset", inp["dataset"])
                loc, snippet, width = head.specs.locate(node, ("spec", "inputs", i, "columns", j))
                ds = head.nodes[ds_id]
                ds_loc, _, _ = head.specs.locate(ds, ("spec", "schema", "columns"))
                out.append(
                    Diagnostic(
                        "breaking-change",
                        f"{a.id} reads column `{col}` of {ds_id}, which this change removes or retypes",
                        loc,
                        f"update {a.id} in the same change, or keep `{col}` in {ds_id}; "
                        "pass --allow-breaking to plan anyway",
                        snippet,
                        width,
                        related=((f"{ds_id} columns ({ds.file})", ds_loc),),
                    )
                )
    return out


def _explain_deletions(diags: list[Diagnostic], base: LineageGraph) -> list[Diagnostic]:
    """Turn "no model named x" into "model/x is deleted by this change but still used here"."""
    out = []
    for d in diags:
        if d.code == "dangling-reference":
            name = d.message.rsplit("`", 2)[-2] if d.message.count("`") >= 2 else ""
            gone = [n for n in base.nodes if n.name == name]
            if gone:
                where = base.nodes[gone[0]]
                out.append(
                    Diagnostic(
                        "deleted-still-used",
                        f"{gone[0]} is deleted by this change but still referenced here",
                        d.location,
                        f"delete or repoint this reference too, or keep {gone[0]}",
                        d.snippet,
                        d.width,
                        related=((f"{gone[0]} was defined in the base", Location(where.file)),),
                    )
                )
                continue
        out.append(d)
    return out
