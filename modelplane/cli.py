"""The ``modelplane`` command line: thin commands over the compiler and the runtime.

Exit codes are part of the interface: 0 success, 1 an error the user can fix
(printed as diagnostics, no traceback), 2 changes present (``plan
--detailed-exitcode``) or a usage error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from modelplane import __version__
from modelplane.compiler.errors import ModelplaneError

app = typer.Typer(
    name="modelplane",
    help="Declarative config-as-code for ML infrastructure: validate, plan and apply ML specs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


class Format(StrEnum):
    text = "text"
    json = "json"


ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-C", help="Project directory (default: nearest with a modelplane.yaml)."),
]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Environment (default: the project's default).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Ignore the content cache under .modelplane/.")]


def _color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def _fail(exc: ModelplaneError, fmt: Format = Format.text) -> NoReturn:
    from modelplane.compiler.render_diagnostics import to_json, to_text

    if fmt == Format.json:
        print(json.dumps({"ok": False, "errors": to_json(exc.diagnostics)}, indent=2))
    else:
        print(to_text(exc.diagnostics, color=_color(sys.stderr)), file=sys.stderr)
    raise typer.Exit(exc.exit_code)


def _guard(fn: Callable[[], T], fmt: Format = Format.text) -> T:
    try:
        return fn()
    except ModelplaneError as exc:
        _fail(exc, fmt)


def _root(project: Path | None) -> Path:
    from modelplane.compiler.scan import find_root

    return _guard(lambda: find_root(project or Path.cwd()))


def _version(value: bool) -> None:
    if value:
        print(f"modelplane {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """modelplane: specs in git -> lineage graph -> impact-aware plan -> durable rollout."""


@app.command()
def validate(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    no_cache: NoCacheOpt = False,
) -> None:
    """Check every spec: syntax, fields, references. Exit 0 when valid, 1 when not."""
    from modelplane.compiler.cache import VerdictCache
    from modelplane.compiler.scan import scan

    def run() -> dict[str, Any]:
        root = _root(project)
        sc = scan(root, env)
        verdicts = VerdictCache(root, sc.environment)
        summary = None if no_cache or sc.problems else verdicts.get(sc.fingerprint)
        if summary is None:
            from modelplane.compiler.loader import load

            specs = load(root, env, use_cache=not no_cache, scanned=sc)
            kinds: dict[str, int] = {}
            for node in specs.nodes.values():
                kinds[node.kind] = kinds.get(node.kind, 0) + 1
            summary = {
                "environment": specs.environment,
                "nodes": len(specs.nodes),
                "files": len(specs.files),
                "kinds": kinds,
            }
            if not no_cache:
                verdicts.put(sc.fingerprint, summary)
        return summary

    summary = _guard(run, fmt)
    if fmt == Format.json:
        print(json.dumps({"ok": True, "errors": [], **summary}))
    else:
        from modelplane.specs.base import KIND_ORDER

        kinds = summary["kinds"]
        detail = ", ".join(f"{kinds[k]} {k.lower()}{'s' if kinds[k] != 1 else ''}" for k in KIND_ORDER if k in kinds)
        print(f"✓ {summary['nodes']} specs valid in {summary['files']} files (env {summary['environment']}): {detail}")


class SchemaTarget(StrEnum):
    spec = "spec"
    project = "project"


@app.command()
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

        _fail(ModelplaneError(f"unknown kind `{kind}`", hint=did_you_mean(kind, KINDS, "known kinds")))
    doc = project_schema() if target == SchemaTarget.project else kind_schema(kind) if kind else spec_schema()
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project (must be empty or absent).")],
    name: Annotated[str | None, typer.Option("--name", help="Project name (default: the folder's name).")] = None,
) -> None:
    """Create a small, valid project: a dataset, a model, an evaluation, an endpoint on the local stack."""
    from modelplane.templates.scaffold import scaffold

    written = _guard(lambda: scaffold(directory, name))
    for path in written:
        print(f"  created {path}")
    print(f"✓ project ready; next: cd {directory} && modelplane validate && modelplane graph")


def main() -> None:
    # pydantic's plugin discovery scans every installed distribution's entry points
    # (~15 ms per run); modelplane uses no pydantic plugins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    app()


if __name__ == "__main__":
    main()
