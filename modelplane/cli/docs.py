"""``modelplane docs``: write the lineage explorer (a static site) and serve it on loopback."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.options import BaseOpt, EnvOpt, NoCacheOpt, ProjectOpt
from modelplane.cli.project import compile_root
from modelplane.cli.views.words import plural
from modelplane.errors import ModelplaneError

docs_app = typer.Typer(help="The lineage explorer: a static site you open from disk.", no_args_is_help=True)

OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Where to write the site (default: .modelplane/docs/<env>).")
]


@docs_app.command("generate")
def docs_generate(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    base: BaseOpt = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Overlay the impact of a saved plan (`modelplane plan --out`).")
    ] = None,
    out: OutOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Write the explorer: search, a page per node, a focused graph with lenses, the whole-graph overview and,
    with --base or --plan, the impact overlay. Open its index.html from disk; no server is needed."""
    from modelplane.docs_site.generate import generate
    from modelplane.workspace import Workspace

    root = compile_root(project)
    ws = Workspace(root, env, use_cache=not no_cache)
    target = out if out is not None else root / ".modelplane" / "docs" / guard(lambda: ws.settings.environment)
    started = time.perf_counter()
    done = guard(lambda: generate(ws, target, base=base, plan_file=plan))
    took = time.perf_counter() - started
    overlay = f", impact overlay against {done.overlay}" if done.overlay else ""
    counted = f"{plural(done.nodes, 'node')} and {plural(done.edges, 'edge')}"
    print(f"wrote the explorer for {counted} to {target}{overlay} in {took:.2f}s")
    print(f"open {(target / 'index.html').resolve().as_uri()}  (or: modelplane docs serve --dir {target})")


@docs_app.command("serve")
def docs_serve(
    directory: Annotated[
        Path | None, typer.Option("--dir", "-d", help="The site to serve (default: .modelplane/docs/<env>).")
    ] = None,
    project: ProjectOpt = None,
    env: EnvOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free one).")] = 8080,
) -> None:
    """Serve a written explorer on loopback (127.0.0.1 only), until Ctrl-C."""
    from modelplane.docs_site.serve import serve

    if directory is None:
        from modelplane.workspace import Workspace

        ws = Workspace(compile_root(project), env)
        directory = ws.root / ".modelplane" / "docs" / guard(lambda: ws.settings.environment)
    if not (directory / "index.html").is_file():
        fail(
            ModelplaneError(
                f"no explorer in {directory} (index.html is missing)",
                hint="write one first: modelplane docs generate" + (f" -o {directory}" if directory else ""),
            )
        )
    server = guard(lambda: serve(directory, port))
    host, bound = server.server_address[:2]
    print(f"serving {directory} at http://{host!s}:{bound}/ (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
