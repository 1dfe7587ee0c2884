"""Commands that only compile and print: validate, graph, impact, plan, schema, init; and lsp, which serves editors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modelplane.cli.exit import fail, guard, plan_exit
from modelplane.cli.options import (
    BaseOpt,
    EnvOpt,
    ExcludeOpt,
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
from modelplane.cli.views.plan import plan_view
from modelplane.errors import ModelplaneError
from modelplane.workspace import Workspace


def validate(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    fmt: FormatOpt = Format.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """Check every spec in every environment (--env: only that one): syntax, fields, references and every
    graph rule plan checks. Each problem is shown once, with the environments it is in. Exit 0 when valid, 1 when not."""
    from modelplane.environments import environments_of, validate_every

    root = compile_root(project, fmt)  # no project is an error in the asked format too
    envs = [env] if env is not None else guard(lambda: environments_of(root), fmt)
    every = guard(lambda: validate_every(root, envs, use_cache=not no_cache), fmt)
    found = every.validations[0]
    if fmt == Format.json:
        from dataclasses import asdict

        from modelplane.cli.views.diagnostics import to_json

        summary = {k: v for k, v in asdict(found).items() if k != "warnings"}
        payload = {"ok": True, "errors": [], "warnings": to_json(every.warnings), **summary, "environments": envs}
        print(json.dumps(payload))
    else:
        from modelplane.specs.base import KIND_ORDER

        kinds = found.kinds
        detail = ", ".join(f"{kinds[k]} {k.lower()}{'s' if kinds[k] != 1 else ''}" for k in KIND_ORDER if k in kinds)
        print(f"✓ {found.nodes} specs valid in {found.files} files (env {found.environment}): {detail}")
        for other in every.validations[1:]:
            print(f"✓ {other.nodes} specs valid in env {other.environment}")
        if every.warnings:
            from modelplane.cli.views.diagnostics import to_text

            print("\n" + to_text(every.warnings, color=color(sys.stderr)), file=sys.stderr)


def graph(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    base: BaseOpt = None,
    fmt: GraphFormatOpt = GraphFormat.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """Show the lineage graph, or the part a selector picks."""
    from modelplane.compiler.report import graph as report_graph

    root = compile_root(project)
    # --format json promises one JSON document on stdout: a spec error is one too (validate's shape)
    errors_as = Format.json if fmt == GraphFormat.json else Format.text
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=_note)
    picked = guard(lambda: ws.graph(select, base, exclude=exclude), errors_as)
    _warn_selection(picked.warnings)
    g, nodes = picked.graph, picked.nodes
    if fmt == GraphFormat.mermaid:
        sys.stdout.write(report_graph.mermaid(g, nodes) + "\n")
    elif fmt == GraphFormat.dot:
        sys.stdout.write(report_graph.dot(g, nodes) + "\n")
    elif fmt == GraphFormat.json:
        sys.stdout.write(json.dumps(report_graph.to_json(g, nodes), indent=2) + "\n")
    else:
        sys.stdout.write(report_graph.text(g, nodes))


def impact(
    selector: Annotated[str, typer.Argument(help="What changes: a dbt-style selector (e.g. dataset/events).")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    base: BaseOpt = None,
    exclude: ExcludeOpt = None,
    fmt: FormatOpt = Format.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """What is affected downstream if the selected nodes change (or, with --base, how they did change)."""
    root = compile_root(project)
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=_note)
    result = guard(lambda: ws.impact(selector, base, exclude=exclude))
    _warn_selection(result["warnings"])
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
    exclude: ExcludeOpt = None,
) -> None:
    """Diff the specs against the applied state (or --base REF) and show every change with its impact."""
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
        from modelplane import plan_memo

        if not head_scan.problems:
            flags = {
                "fmt": fmt.value,
                "allow_breaking": allow_breaking,
                "color": [color(sys.stdout), color(sys.stderr)],
                "select": select,
                "exclude": exclude,
            }
            memo_key = plan_memo.key(head_scan, root, git.commit, **flags)
            hit = plan_memo.get(root, memo_key)
            if hit is not None:
                sys.stdout.write(hit["stdout"])
                sys.stderr.write(hit["stderr"])
                plan_exit(hit["code"], detailed_exitcode)
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=_note)
    result = guard(
        lambda: ws.plan(
            base,
            allow_breaking=allow_breaking,
            select=select,
            exclude=exclude,
            head_scan=head_scan,
            base_source=git,
        ),
        errors_as,
    )
    saved_as = out.name if out is not None and not result.errors else None  # the artifact the report points at
    shown = plan_view(result, fmt, artifact=saved_as, color=(color(sys.stdout), color(sys.stderr)))
    if memo_key is not None:
        from modelplane import plan_memo

        plan_memo.put(root, memo_key, shown.stdout, shown.stderr, shown.code)
    sys.stdout.write(shown.stdout)
    sys.stderr.write(shown.stderr)
    if result.errors and out is not None:
        print(f"plan not saved to {out}: fix the errors above or pass --allow-breaking", file=sys.stderr)
    if not result.errors and out is not None:
        saved = ws.save_plan(result, out)
        if saved.base.kind == "state":
            print(f"saved plan {saved.id} to {out}; apply it with: modelplane apply {out}", file=sys.stderr)
        else:  # a review artifact: apply refuses a plan that was not made against the applied state
            print(
                f"saved plan {saved.id} to {out} (against git ref `{saved.base.ref}`: for review; to apply, "
                "make one against the applied state: modelplane plan --out FILE, without --base)",
                file=sys.stderr,
            )
    plan_exit(shown.code, detailed_exitcode)


def _warn_selection(warnings: list[str]) -> None:
    """A selection that matched nothing for a legitimate reason (nothing changed) still says so."""
    for w in warnings:
        print(f"warning[selector-matches-nothing]: {w}", file=sys.stderr)


def _note(running: Any) -> None:
    env = running.environment
    print(
        f"note: apply {running.apply_id} on {env} has not finished; this plan shows the state so far "
        f"(`modelplane status --env {env}` re-attaches to it)",
        file=sys.stderr,
    )


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
        from modelplane.errors import did_you_mean

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


def lsp() -> None:
    r"""Run the language server on stdio, for editors (needs the `lsp` extra: pip install 'modelplane\[lsp]')."""
    try:
        import pygls  # noqa: F401
    except ImportError:
        fail(
            ModelplaneError(
                "`modelplane lsp` needs pygls, which is not installed",
                hint="install the extra: pip install 'modelplane[lsp]' (pygls 2.x)",
            )
        )
    from modelplane.lsp.server import main

    main()
