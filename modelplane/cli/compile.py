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
    errors_format,
)
from modelplane.cli.project import compile_root
from modelplane.cli.views.plan import plan_view
from modelplane.errors import ModelplaneError
from modelplane.workspace import Workspace

MEMOIZED = (PlanFormat.text, PlanFormat.json)


def validate(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    fmt: FormatOpt = Format.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """Check every spec in every environment (--env: only that one): syntax, fields, references and every
    graph rule plan checks. Each problem is shown once, with the environments it is in. Exit 0 when valid, 1 when not."""
    from modelplane.cli.views.validate import validate_view
    from modelplane.environments import environments_of, validate_every

    root = compile_root(project, fmt)  # no project is an error in the asked format too
    envs = [env] if env is not None else guard(lambda: environments_of(root), fmt)
    every = guard(lambda: validate_every(root, envs, use_cache=not no_cache), fmt)
    validate_view(every, envs, fmt, color=color(sys.stderr)).write()


def graph(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    select: SelectOpt = None,
    exclude: ExcludeOpt = None,
    base: BaseOpt = None,
    fmt: GraphFormatOpt = GraphFormat.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """Show the lineage graph, or the part a selector picks; edges read in the data's direction."""
    from modelplane.cli.views.graph import graph_view, selection_warnings

    root = compile_root(project)
    errors_as = errors_format(fmt)  # a spec error is one JSON document too (validate's shape)
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=_note)
    picked = guard(lambda: ws.graph(select, base, exclude=exclude), errors_as)
    sys.stderr.write(selection_warnings(picked.warnings))
    graph_view(picked, fmt).write()


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
    from modelplane.cli.views.graph import selection_warnings
    from modelplane.cli.views.impact import impact_view

    root = compile_root(project)
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=_note)
    result = guard(lambda: ws.impact(selector, base, exclude=exclude))
    sys.stderr.write(selection_warnings(result.warnings))
    impact_view(result, fmt).write()


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
    errors_as = errors_format(fmt)
    root = compile_root(project)
    memo_key = None
    head_scan = None
    git = None
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=_note)
    if base is not None:
        head_scan = guard(ws.scan, errors_as)
        git = guard(lambda: ws.git_source(base), errors_as)
    # a markdown report points at its --out artifact by name: it is never memoized
    if head_scan is not None and git is not None and out is None and not no_cache and fmt in MEMOIZED:
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
    # the id and approvals of a plan that could be applied (made only where the view shows them)
    notes = (
        (lambda: guard(lambda: ws.plan_notes(result), errors_as))
        if result.plan.has_work and not result.errors
        else None
    )
    shown = plan_view(result, fmt, artifact=saved_as, color=(color(sys.stdout), color(sys.stderr)), notes=notes)
    if memo_key is not None:
        from modelplane import plan_memo

        plan_memo.put(root, memo_key, shown.stdout, shown.stderr, shown.code)
    shown.write()
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
    doc = guard(lambda: Workspace.schema(target.value, kind))
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
    written = guard(lambda: Workspace.init(directory, name))
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
