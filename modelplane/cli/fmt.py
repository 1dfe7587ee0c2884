"""``modelplane fmt``: rewrite spec files in canonical key order and spellings, comments kept
(``compiler.format``); ``--check`` and ``--diff`` change nothing and exit 1 where a file would change."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.options import ProjectOpt
from modelplane.errors import Diagnostic, Location, SpecError


def _files(paths: list[Path] | None, project: Path | None) -> tuple[Path, list[Path]]:
    """(the directory paths are shown relative to, the spec files to format)."""
    if paths:
        out: list[Path] = []
        for p in paths:
            if p.is_dir():
                out.extend(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file()))
            elif p.is_file():
                out.append(p)
            else:
                fail(SpecError(Diagnostic("no-such-file", f"{p}: no such file or directory", Location(str(p)))))
        return Path.cwd(), out
    from modelplane.cli.project import project_root
    from modelplane.workspace import Workspace

    root = project_root(project)
    return root, guard(lambda: Workspace(root).spec_files())


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def fmt(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Spec files or directories (default: every spec file of the project).", show_default=False),
    ] = None,
    project: ProjectOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; list the files fmt would change and exit 1 if any.")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Change nothing; show what fmt would change as a unified diff.")
    ] = False,
) -> None:
    """Rewrite spec files in canonical form: keys in the order of the kind's fields, the forgiving dialect's
    spellings in their canonical form (90m -> 1h30m, varchar -> string), comments kept."""
    from modelplane.workspace import Workspace

    base, files = _files(paths, project)
    problems: list[Diagnostic] = []
    changed: list[str] = []
    for path in files:
        shown = _shown(path, base)
        text = path.read_text(encoding="utf-8")
        result = Workspace.format_spec(shown, text)
        if result.problems:
            problems.extend(result.problems)
            continue
        if not result.changed:
            continue
        changed.append(shown)
        if diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True), result.text.splitlines(keepends=True), f"a/{shown}", f"b/{shown}"
                )
            )
        elif check:
            print(f"would reformat {shown}")
        else:
            path.write_text(result.text, encoding="utf-8")
            print(f"reformatted {shown}")
    verb = "would be reformatted" if check or diff else "reformatted"
    unchanged = len(files) - len(changed) - len({p.location.file for p in problems if p.location})
    print(
        f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, {unchanged} already formatted",
        file=sys.stderr,
    )
    if problems:
        fail(SpecError(problems))  # left as they were
    if changed and (check or diff):
        raise typer.Exit(1)
