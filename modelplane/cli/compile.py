"""Commands that only compile and print: validate, graph, impact, plan, schema, init; and lsp, which serves editors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.formats import Format, GraphFormat, PlanFormat, SchemaTarget, color, errors_format
from modelplane.cli.options import (
    BaseOpt,
    EnvOpt,
    ExcludeOpt,
    FormatOpt,
    GraphFormatOpt,
    NoCacheOpt,
    PlanFormatOpt,
    ProjectOpt,
    SelectOpt,
)
from modelplane.cli.plan_command import note_unfinished, run_plan
from modelplane.cli.project import compile_root
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
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=note_unfinished)
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
    ws = Workspace(root, env, use_cache=not no_cache, on_unfinished=note_unfinished)
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
    run_plan(project, env, base, out, fmt, detailed_exitcode, allow_breaking, no_cache, select, exclude)


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
