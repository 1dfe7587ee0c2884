"""``validate`` across every environment: each problem once, with the environments it affects.

A spec can be valid in the default environment and broken in another (a base value that only
the default overrides, a variable only one environment lacks); a plain ``validate`` checks them
all, so such an error fails it instead of waiting for ``--env prod``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelplane.errors import Diagnostic, ModelplaneError, SpecError

if TYPE_CHECKING:
    from modelplane.workspace import Validation


@dataclass
class EveryEnvironment:
    """What ``validate`` found in each environment of a valid project (the first is the default)."""

    validations: list[Validation] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def environments_of(root: Path) -> list[str]:
    """The project's environments, its default first."""
    from modelplane.workspace import Workspace

    project = Workspace(root).scan().project
    default = project.env_name(None)
    return [default, *(e for e in project.environments if e != default)]


def validate_every(root: Path, envs: list[str], use_cache: bool = True) -> EveryEnvironment:
    """Validate ``envs``; raise one ``SpecError`` with every distinct problem, tagged with its environments."""
    from modelplane.workspace import Workspace

    errors: dict[tuple[object, ...], tuple[Diagnostic, list[str]]] = {}
    warnings: dict[tuple[object, ...], tuple[Diagnostic, list[str]]] = {}
    found = EveryEnvironment()
    for env in envs:
        try:
            checked = Workspace(root, env, use_cache=use_cache).validate()
        except ModelplaneError as exc:
            _merge(errors, exc.diagnostics, env)
            continue
        found.validations.append(checked)
        _merge(warnings, checked.warnings, env)
    tag = len(envs) > 1
    if errors:
        raise SpecError([_tagged(d, on, tag) for d, on in errors.values()])
    found.warnings = [_tagged(d, on, tag) for d, on in warnings.values()]
    return found


def _merge(into: dict[tuple[object, ...], tuple[Diagnostic, list[str]]], found: list[Diagnostic], env: str) -> None:
    for d in found:
        key = (d.code, d.message, d.location, d.hint, d.severity)
        if key in into:
            into[key][1].append(env)
        else:
            into[key] = (d, [env])


def _tagged(d: Diagnostic, envs: list[str], tag: bool) -> Diagnostic:
    return dataclasses.replace(d, environments=tuple(envs)) if tag else d
