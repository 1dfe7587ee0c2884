"""Commands that only compile and print: validate, graph, impact, plan, schema, init."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli.exit import fail, guard, plan_exit
from modelplane.cli.options import (
    BaseOpt,
    EnvOpt,
    Format,
    FormatOpt,
    GraphFormat,
    GraphFormatOpt,
    NoCacheOpt,
    PlanFormat,
    PlanFormatOpt,
    ProjectOpt,
    SchemaTarget,
    SelectOpt,
    color,
)
from modelplane.cli.project import compile_root
from modelplane.compiler.errors import ModelplaneError


def validate(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    fmt: FormatOpt = Format.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """Check every spec: syntax, fields, references and every graph rule plan checks. Exit 0 when valid, 1 when not."""
    from modelplane.compiler.incremental.spec_cache import VerdictCache
    from modelplane.compiler.source.scan import scan

    def run() -> dict[str, Any]:
        root = compile_root(project, fmt)  # no project is an error in the asked format too
        sc = scan(root, env)
        verdicts = VerdictCache(root, sc.environment)
        summary = None if no_cache or sc.problems else verdicts.get(sc.fingerprint)
        if summary is None:
            from modelplane.compiler.compile import check_specs
            from modelplane.compiler.incremental.graph_cache import diag_to_json

            # every check plan runs (load, references, graph rules): what plan rejects, validate rejects
            compiled = check_specs(root, env, use_cache=not no_cache, scanned=sc)
            specs = compiled.specs
            kinds: dict[str, int] = {}
            for node in specs.nodes.values():
                kinds[node.kind] = kinds.get(node.kind, 0) + 1
            summary = {
                "environment": specs.environment,
                "nodes": len(specs.nodes),
                "files": len(specs.files),
                "kinds": kinds,
                "warnings": [diag_to_json(d) for d in compiled.warnings],
            }
            if not no_cache:
                verdicts.put(sc.fingerprint, summary)
        return summary

    summary = guard(run, fmt)
    found = summary.pop("warnings", [])
    warnings = []
    if found:  # a warm run without warnings imports nothing more
        from modelplane.compiler.incremental.graph_cache import diag_from_json

        warnings = [diag_from_json(d) for d in found]
    if fmt == Format.json:
        from modelplane.compiler.report.diagnostics import to_json

        print(json.dumps({"ok": True, "errors": [], "warnings": to_json(warnings), **summary}))
    else:
        from modelplane.specs.base import KIND_ORDER

        kinds = summary["kinds"]
        detail = ", ".join(f"{kinds[k]} {k.lower()}{'s' if kinds[k] != 1 else ''}" for k in KIND_ORDER if k in kinds)
        print(f"✓ {summary['nodes']} specs valid in {summary['files']} files (env {summary['environment']}): {detail}")
        if warnings:
            from modelplane.compiler.report.diagnostics import to_text

            print("\n" + to_text(warnings, color=color(sys.stderr)), file=sys.stderr)


def graph(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    select: SelectOpt = None,
    base: BaseOpt = None,
    fmt: GraphFormatOpt = GraphFormat.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """Show the lineage graph, or the part a selector picks."""
    from modelplane.compiler.change.whatif import modified_nodes, uses_state
    from modelplane.compiler.compile import compile_graph
    from modelplane.compiler.graph.selectors import select as run_select
    from modelplane.compiler.report import graph as report_graph

    def run() -> str:
        root = compile_root(project)
        compiled = compile_graph(root, env, use_cache=not no_cache)
        g = compiled.graph
        modified = None
        if uses_state(select):  # state:modified: against --base, or the applied state
            state = None if base else _applied_state(root, env)
            against = modified_nodes(root, env, base_ref=base, state=state, use_cache=not no_cache)
            modified = against[1] if against is not None else None
        nodes = run_select(g, select, modified) if select else None
        if fmt == GraphFormat.mermaid:
            return report_graph.mermaid(g, nodes) + "\n"
        if fmt == GraphFormat.dot:
            return report_graph.dot(g, nodes) + "\n"
        if fmt == GraphFormat.json:
            return json.dumps(report_graph.to_json(g, nodes), indent=2) + "\n"
        return report_graph.text(g, nodes)

    sys.stdout.write(guard(run))


def impact(
    selector: Annotated[str, typer.Argument(help="What changes: a dbt-style selector (e.g. dataset/events).")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    base: BaseOpt = None,
    fmt: FormatOpt = Format.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """What is affected downstream if the selected nodes change (or, with --base, how they did change)."""
    from modelplane.compiler.change.whatif import impact_of

    def run() -> dict[str, Any]:
        root = compile_root(project)
        state = _applied_state(root, env) if base is None and uses_state(selector) else None
        return impact_of(root, selector, env=env, base_ref=base, state=state, use_cache=not no_cache)

    from modelplane.compiler.change.whatif import uses_state

    result = guard(run)
    if fmt == Format.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{len(result['changed'])} changed -> {len(result['impact'])} affected")
    for cid in result["changed"]:
        print(f"  changed  {cid}")
    for item in result["impact"]:
        print(f"  {item['category']:<21} {item['id']}  <- {' -> '.join(item['reasons'])}")


def plan(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    base: BaseOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the plan (JSON) for `apply`.")] = None,
    fmt: PlanFormatOpt = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 0 with nothing to do, 2 with changes or left-over work, 1 on error."
        ),
    ] = False,
    allow_breaking: Annotated[
        bool, typer.Option("--allow-breaking", help="Acknowledge breaking impact: report it as warnings.")
    ] = False,
    no_cache: NoCacheOpt = False,
    select: Annotated[
        str | None,
        typer.Option(
            "--select",
            "-s",
            help="Plan only the changes of these nodes (graph's selector grammar; state:modified is what this "
            "plan compares with), with their whole impact; like Terraform's -target.",
        ),
    ] = None,
) -> None:
    """Diff the specs against the applied state (or --base REF) and show every change with its impact."""
    import io

    errors_as = Format.json if fmt == PlanFormat.json else Format.text  # --format json: errors as JSON too
    root = compile_root(project)
    memo_key = None
    head_scan = None
    git = None
    if base is not None:
        from modelplane.compiler.source.files import GitSource
        from modelplane.compiler.source.scan import scan

        head_scan = guard(lambda: scan(root, env), errors_as)
        git = guard(lambda: GitSource.for_project(root, base), errors_as)
    if head_scan is not None and git is not None and out is None and not no_cache and fmt != PlanFormat.markdown:
        from modelplane.cli import plan_memo

        if not head_scan.problems:
            flags = {
                "fmt": fmt.value,
                "allow_breaking": allow_breaking,
                "color": [color(sys.stdout), color(sys.stderr)],
                "select": select,
            }
            memo_key = plan_memo.key(head_scan, root, git.commit, **flags)
            hit = plan_memo.get(root, memo_key)
            if hit is not None:
                sys.stdout.write(hit["stdout"])
                sys.stderr.write(hit["stderr"])
                plan_exit(hit["code"], detailed_exitcode)
    from modelplane.compiler.compile import make_plan
    from modelplane.compiler.report.diagnostics import to_text

    result = guard(
        lambda: make_plan(
            root,
            env,
            base_ref=base,
            state=None if base else _applied_state(root, env),
            allow_breaking=allow_breaking,
            use_cache=not no_cache,
            head_scan=head_scan,
            base_source=git,
            target=select,
        ),
        errors_as,
    )
    p = result.plan
    stdout, stderr = io.StringIO(), io.StringIO()
    if fmt == PlanFormat.json:
        stdout.write(p.model_dump_json(indent=2) + "\n")
    elif fmt == PlanFormat.markdown:
        from modelplane.compiler.report.markdown import render as render_md

        saved_as = out.name if out is not None and not result.errors else None  # the artifact the report points at
        stdout.write(render_md(p, result.head.graph, result.base, artifact=saved_as))
    else:
        from modelplane.compiler.report.text import render as render_text

        stdout.write(render_text(p, color=color(sys.stdout)))
    shown = [*result.errors, *([] if fmt == PlanFormat.json else result.warnings)]
    if shown:
        stderr.write("\n" + to_text(shown, color=color(sys.stderr)) + "\n")
    # 1: errors, 2: changes or work an earlier apply left (shown as such only with --detailed-exitcode), 0: neither
    code = 1 if result.errors else 2 if p.has_work else 0
    if memo_key is not None:
        from modelplane.cli import plan_memo

        plan_memo.put(root, memo_key, stdout.getvalue(), stderr.getvalue(), code)
    sys.stdout.write(stdout.getvalue())
    sys.stderr.write(stderr.getvalue())
    if result.errors and out is not None:
        print(f"plan not saved to {out}: fix the errors above or pass --allow-breaking", file=sys.stderr)
    if not result.errors and out is not None:
        from modelplane.compiler.plan.execution import executable

        saved = executable(p, result.head.graph, result.base)  # with what apply executes: apply compiles nothing
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(saved.model_dump_json(indent=2) + "\n")
        os.replace(tmp, out)
        print(f"saved plan {saved.id} to {out}; apply it with: modelplane apply {out}", file=sys.stderr)
    plan_exit(code, detailed_exitcode)


def _applied_state(root: Path, env: str | None) -> Any:
    """The environment's state store, or None before the first apply (planning never creates it)."""
    from modelplane.runtime.connection import settings_for
    from modelplane.runtime.state import existing_store

    s = settings_for(root, env)
    store = existing_store(s.root, s.state)
    if store is None:
        return None
    last = store.history(s.environment, limit=1)
    if last and last[0].outcome == "running":
        print(
            f"note: apply {last[0].apply_id} on {s.environment} has not finished; this plan shows the state so far "
            f"(`modelplane status --env {s.environment}` re-attaches to it)",
            file=sys.stderr,
        )
    return store


def schema(
    target: Annotated[
        SchemaTarget, typer.Argument(help="`spec` for spec documents, `project` for modelplane.yaml.")
    ] = (SchemaTarget.spec),
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind (e.g. Endpoint).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to a file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of spec documents, for editors (yaml-language-server)."""
    from modelplane.specs.kinds import KINDS
    from modelplane.specs.schema import kind_schema, project_schema, spec_schema

    if kind is not None and kind not in KINDS:
        from modelplane.compiler.errors import did_you_mean

        fail(ModelplaneError(f"unknown kind `{kind}`", hint=did_you_mean(kind, KINDS, "known kinds")))
    if target == SchemaTarget.plan:
        from modelplane.compiler.plan.model import plan_schema

        doc = plan_schema()
    else:
        doc = project_schema() if target == SchemaTarget.project else kind_schema(kind) if kind else spec_schema()
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project (must be empty or absent).")],
    name: Annotated[str | None, typer.Option("--name", help="Project name (default: the folder's name).")] = None,
) -> None:
    """Create a small, valid project: a dataset, a model, an evaluation, an endpoint on the local stack."""
    from modelplane.templates.scaffold import scaffold

    written = guard(lambda: scaffold(directory, name))
    for path in written:
        print(f"  created {path}")
    print(f"✓ project ready; next: cd {directory} && modelplane validate && modelplane graph")
