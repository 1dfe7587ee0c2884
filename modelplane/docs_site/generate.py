"""``modelplane docs generate``: compile the project, gather the overlay and the state, write the site."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelplane.compiler.plan.model import Plan
from modelplane.docs_site.model import Applied, Overlay, build
from modelplane.docs_site.write import source_lines, write_site
from modelplane.errors import ModelplaneError
from modelplane.workspace import Workspace


@dataclass
class Generated:
    out: Path
    nodes: int
    edges: int
    overlay: str | None
    files: int


def _modified(plan: Plan, also: set[str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """What ``state:`` selects in the search box: each changed node's change and changed field paths."""
    out: dict[str, tuple[str, list[str]]] = {c.id: (c.change, [f.path for f in c.fields]) for c in plan.changes}
    for nid in also or ():
        out.setdefault(nid, ("update", []))
    return out


def _overlay_from_plan(plan_file: Path) -> tuple[Overlay, dict[str, tuple[str, list[str]]]]:
    from pydantic import ValidationError

    try:
        plan = Plan.model_validate_json(plan_file.read_bytes())
    except OSError as exc:
        raise ModelplaneError(
            f"cannot read plan file {plan_file}: {exc.strerror}", hint="make one with `modelplane plan --out FILE`"
        ) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelplaneError(
            f"{plan_file}: not a modelplane plan ({where}: {first['msg']})",
            hint="pass a file written by `modelplane plan --out FILE`",
        ) from exc
    against = f"plan {plan_file.name} (against {plan.base.kind}"
    against += f" {plan.base.ref})" if plan.base.ref else f" serial {plan.base.serial})"
    overlay = Overlay(
        against,
        {c.id: c.change for c in plan.changes},
        {i.id: (i.category, list(i.reasons)) for i in plan.impact if i.category != "unaffected"},
    )
    return overlay, _modified(plan)


def generate(
    ws: Workspace, out: Path, *, base: str | None = None, plan_file: Path | None = None, history: bool = True
) -> Generated:
    """Write the explorer for ``ws`` into ``out``. ``base``: a git ref to overlay the impact of the
    change since; ``plan_file``: a saved plan to overlay instead; ``history``: read the state store."""
    if base is not None and plan_file is not None:
        raise ModelplaneError("--base and --plan both give the impact overlay", hint="pass one of them")
    compiled = ws.compile()
    graph = compiled.graph
    specs = graph.specs
    overlay: Overlay | None = None
    modified: dict[str, tuple[str, list[str]]] | None = None
    store = ws.applied_state() if history else None
    applied: Applied | None = None
    if plan_file is not None:
        overlay, modified = _overlay_from_plan(plan_file)
    elif base is not None or store is not None:
        from modelplane.compiler.change.whatif import modified_nodes

        found = modified_nodes(ws.root, ws.env, base_ref=base, state=None if base else store, use_cache=ws.use_cache)
        if found is not None:
            result, mod = found
            modified = _modified(result.plan, {str(n) for n in mod})
            if base is not None:
                plan = result.plan
                overlay = Overlay(
                    f"git {base}",
                    {c.id: c.change for c in plan.changes},
                    {i.id: (i.category, list(i.reasons)) for i in plan.impact if i.category != "unaffected"},
                )
    histories = None
    if store is not None:
        from modelplane.docs_site.history import node_histories

        env = specs.environment
        state = store.applied(env)
        pending = {p.target for p in state.pending.values()}
        changed = set(modified) if base is None and plan_file is None and modified is not None else set()
        applied = Applied(state.serial, set(state.nodes), changed, pending)
        histories = node_histories(store, env)
    doc, details = build(
        graph,
        source_lines(ws.root, graph, ws.root / ".modelplane" / "cache" / f"docs-lines-{specs.environment}.json"),
        project=specs.project.name,
        environment=specs.environment,
        overlay=overlay,
        applied=applied,
        modified=modified,
        histories=histories,
    )
    written = write_site(out, doc, details)
    return Generated(out, len(graph.nodes), len(graph.edges), overlay.against if overlay else None, len(written))
