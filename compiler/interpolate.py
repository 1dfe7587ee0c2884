"""``${var.name}`` interpolation of environment variables into spec documents.

A string that is exactly one reference takes the variable's type (``replicas:
${var.replicas}`` stays an int); anything else is text substitution. ``$${``
writes a literal ``${``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR = re.compile(r"^var\.([A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class Unresolved:
    """A reference that could not be resolved, at ``path`` inside the document."""

    path: tuple[str | int, ...]
    expression: str
    offset: int
    reason: str


def interpolate(data: Any, variables: dict[str, Any], problems: list[Unresolved]) -> Any:
    """A copy of ``data`` with references replaced; problems are appended, not raised."""
    return _walk(data, variables, problems, ())


def _walk(data: Any, variables: dict[str, Any], problems: list[Unresolved], path: tuple[str | int, ...]) -> Any:
    if isinstance(data, str):
        return _string(data, variables, problems, path) if "${" in data else data
    if isinstance(data, dict):
        return {k: _walk(v, variables, problems, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [_walk(v, variables, problems, (*path, i)) for i, v in enumerate(data)]
    return data


def _resolve(expr: str, variables: dict[str, Any]) -> tuple[bool, Any, str]:
    m = _VAR.match(expr.strip())
    if m is None:
        return False, None, "only `${var.NAME}` references are supported"
    name = m.group(1)
    if name not in variables:
        return False, name, "undefined"
    return True, variables[name], ""


def _string(text: str, variables: dict[str, Any], problems: list[Unresolved], path: tuple[str | int, ...]) -> Any:
    whole = _REF.fullmatch(text)
    if whole and whole.group(0) != "$${":
        ok, value, reason = _resolve(whole.group(1), variables)
        if ok:
            return value
        problems.append(Unresolved(path, whole.group(1), 0, reason))
        return text

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        ok, value, reason = _resolve(m.group(1), variables)
        if ok:
            return str(value).lower() if isinstance(value, bool) else str(value)
        problems.append(Unresolved(path, m.group(1), m.start(), reason))
        return m.group(0)

    return _REF.sub(sub, text)


def deep_merge(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return patch
