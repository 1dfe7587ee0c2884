"""``modelplane stack``: preview what a stack's Pulumi program creates, offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelplane.cli.exit import fail, guard
from modelplane.cli.options import EnvOpt, ProjectOpt
from modelplane.cli.project import settings
from modelplane.compiler.errors import ModelplaneError

stack_app = typer.Typer(help="Pulumi stacks: preview what a stack's program creates.", no_args_is_help=True)


@stack_app.command("preview")
def stack_preview(
    stack: Annotated[str, typer.Argument(help="The stack (name or stack/name).")],
    project: ProjectOpt = None,
    env: EnvOpt = None,
    render: Annotated[
        Path | None, typer.Option("--render", help="Also write the Kubernetes objects as YAML here.")
    ] = None,
) -> None:
    """Every resource the stack's Pulumi program would create, offline (no Pulumi CLI, no cloud)."""
    from modelplane.compiler.compile import compile_graph
    from modelplane.specs.base import NodeId
    from modelplane.stacks.preview import preview, write_objects
    from modelplane.stacks.render import render_stack

    s = settings(project, env)
    graph = guard(lambda: compile_graph(s.root, s.environment)).graph
    name = stack.removeprefix("stack/")
    node = graph.nodes.get(NodeId("stack", name))
    if node is None:
        from modelplane.compiler.errors import did_you_mean

        names = [n.name for n in graph.iter_kind("Stack")]
        fail(ModelplaneError(f"no stack named `{name}` in {s.environment}", hint=did_you_mean(name, names, "stacks")))
    if node.spec["provider"] == "local":
        fail(ModelplaneError(f"stack/{name} is a local stack: it has no Pulumi program",
                              hint="`modelplane status` shows what runs on it"))  # fmt: skip
    rendered = render_stack(graph, name)
    rows, missing = preview(rendered)
    spec = node.spec
    where = ", ".join(x for x in (spec["provider"], spec["region"], f"namespace {rendered.namespace}") if x)
    print(f"stack/{name} ({where}), env {s.environment}: {len(rows)} resources")
    for r in rows:
        print(f"  + {r.type}  {r.name}" + (f"\n      {r.summary}" if r.summary else ""))
    for extra in missing:
        print(f"note: node pools not shown: install the `{extra}` extra (pip install 'modelplane[{extra}]')")
    if render is not None:
        written = write_objects(rendered, render)
        print(f"wrote {len(written)} Kubernetes objects to {render}", file=sys.stderr)
