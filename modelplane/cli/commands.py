"""The typer app: every command group (``compile``, ``apply``, ``status``, ``services``, ``local``, ``stacks``,
``state``) registered explicitly, in the order ``--help`` lists them. Heavy imports stay inside the commands,
so ``modelplane validate`` on a warm cache never loads the runtime, pydantic's models or Temporal's SDK (see
docs/architecture.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelplane import __version__
from modelplane.cli import apply, bench, compile, docs, local, services, stacks, state, status
from modelplane.cli.exit import run_main
from modelplane.cli.fmt import fmt
from modelplane.cli.help_text import flags_without_types

flags_without_types()
app = typer.Typer(
    name="modelplane",
    help="Declarative config-as-code for ML infrastructure: validate, plan and apply ML specs.",
    no_args_is_help=True,
    # `--install-completion` / `--show-completion [bash|zsh|fish|powershell]` (docs/fmt-and-install.md)
    add_completion=True,
    pretty_exceptions_enable=False,
)


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


COMMANDS = (
    compile.validate,
    compile.graph,
    compile.impact,
    compile.plan,
    compile.schema,
    fmt,
    compile.init,
    compile.lsp,
    apply.apply,
    status.status,
    apply.approve,
    apply.pause,
    apply.resume,
    apply.abort,
    status.history,
    status.show,
    services.worker,
    services.server,
    local.load,
    local.down,
    bench.bench,
)
for command in COMMANDS:
    app.command()(command)
app.add_typer(stacks.stack_app, name="stack")
app.add_typer(state.state_app, name="state")
app.add_typer(docs.docs_app, name="docs")


def main() -> None:
    run_main(app)


if __name__ == "__main__":
    main()
