"""Resolving ``${secret.NAME}`` on the worker: only here, only when a process is started.

The values live in this process's memory for as long as it takes to start the
command or replica that needs them, and go to it as environment variables
(``MP_SECRET_<NAME>``) and, where the spec put a reference in an argument,
in its argv. Nothing here returns a value to an activity's caller, writes one
to a file or logs one: the registry, run logs, Temporal payloads and state
keep the reference form. ``check`` is what the preflight runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelplane.compiler.load.secrets import Source, names_in, process_env_var, source, substitute
from modelplane.runtime.procs import Identity, spawn_detached, stamp


class SecretMissing(Exception):
    """A secret that cannot be read where it is needed (the message names it and its source, not a value)."""

    def __init__(self, src: Source, why: str) -> None:
        super().__init__(f"secret `{src.name}` cannot be read from {src.describe()}: {why}")
        self.source = src


def read(src: Source, root: Path) -> str:
    """The value of one secret for a process the worker starts."""
    if src.kind == "env":
        value = os.environ.get(src.env)
        if value is None:
            raise SecretMissing(src, "it is not set in the worker's environment")
        return value
    if src.kind == "file":
        path = Path(src.file).expanduser()
        path = path if path.is_absolute() else root / path
        try:
            return path.read_text().removesuffix("\n").removesuffix("\r")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretMissing(src, getattr(exc, "strerror", None) or type(exc).__name__) from None
    raise SecretMissing(src, "a Kubernetes Secret is read by the kubelet, not by the worker")


def check(names: Sequence[str], declared: Mapping[str, Any] | None, root: Path) -> list[SecretMissing]:
    """The secrets of ``names`` a process started on this worker could not get now."""
    out = []
    for name in names:
        try:
            read(source(name, declared, "process"), root)
        except SecretMissing as exc:
            out.append(exc)
    return out


def for_process(
    argv: Sequence[str], declared: Mapping[str, Any] | None, root: Path, also: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """What to start: ``argv`` with its references replaced by their values, and ``MP_SECRET_<NAME>`` for
    each secret referenced there (and in ``also``). Raises ``SecretMissing``. Never write the result down."""
    names = sorted(set(names_in(list(argv))) | set(also))
    if not names:
        return list(argv), {}
    values = {n: read(source(n, declared, "process"), root) for n in names}
    return [substitute(a, values.__getitem__) for a in argv], {process_env_var(n): v for n, v in values.items()}


def child_environ(extra: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment for a child, less the ``MODELPLANE_SECRET_*`` sources (a child gets only the
    secrets it references, as ``MP_SECRET_<NAME>``), plus ``extra``."""
    from modelplane.compiler.load.secrets import ENV_PREFIX

    return {**{k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}, **extra}


def spawn(
    cmd: Sequence[str], declared: Mapping[str, Any] | None, log: Path, cwd: Path, also: Sequence[str] = ()
) -> Identity:
    """Start a detached process from ``cmd`` in its reference form, with the values of its secrets (and of
    ``also``'s) resolved only for it. The identity returned (what the registry records) has the reference
    form of the command line, which ``procs`` matches against the running one. Raises ``SecretMissing``."""
    if not declared and not also and not names_in(list(cmd)):
        return stamp(spawn_detached(cmd, log, cwd).pid)
    argv, extra = for_process(cmd, declared, cwd, also)
    ident = stamp(spawn_detached(argv, log, cwd, env=child_environ(extra)).pid)
    if argv == list(cmd):  # the values went in its environment only
        return ident
    # never the values: the reference form where the argv is as given, else nothing (never matched)
    return Identity(ident.pid, ident.started, list(cmd) if ident.cmdline == argv else [])
