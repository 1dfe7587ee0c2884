"""``${var.name}`` interpolation of environment variables into spec documents.

A string that is exactly one reference takes the variable's type (``replicas:
${var.replicas}`` stays an int); anything else is text substitution. ``$${``
writes a literal ``${``.

``${secret.NAME}`` is not interpolated: it stays in the document as written (a
reference; ``compiler.secrets``), and so does every ``$${`` of a string holding
one, so the runtime can tell the two apart. Each path left holding a reference
is reported in ``secrets``, so the loader can refuse one where it cannot go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modelplane.compiler.load.secrets import PREFIX as SECRET_PREFIX
from modelplane.compiler.load.secrets import is_secret_expression, name_problem

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR = re.compile(r"^var\.([A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class Unresolved:
    """A reference that could not be resolved, at ``path`` inside the document."""

    path: tuple[str | int, ...]
    expression: str
    offset: int
    reason: str


BAD_SECRET = "bad-secret"
"""``Unresolved.reason`` prefix of a ``${secret...}`` whose name is not valid (the rest says why)."""

TOO_LARGE = "too-large"
"""``Unresolved.reason`` when substituting would take the output past the size budget."""


@dataclass
class Budget:
    """How many more characters substitutions may add: interpolated text counts toward the
    file size limit, so one 200 KB variable used 2,000 times cannot build 400 MB of strings."""

    left: int
    exceeded: bool = False

    def take(self, size: int) -> bool:
        """Spend ``size``; False (and nothing spent) once the budget is gone."""
        if self.exceeded or size > self.left:
            self.exceeded = True
            return False
        self.left -= size
        return True


Path = tuple[str | int, ...]


def interpolate(
    data: Any,
    variables: dict[str, Any],
    problems: list[Unresolved],
    budget: Budget | None = None,
    secrets: list[Path] | None = None,
) -> Any:
    """A copy of ``data`` with references replaced; problems are appended, not raised.

    With a ``budget``, the first substitution that would exceed it is left
    unsubstituted and reported once (reason ``TOO_LARGE``); later ones are skipped.
    The path of every string left holding a ``${secret.NAME}`` is appended to ``secrets``.
    """
    found: list[Path] = [] if secrets is None else secrets
    return _walk(data, variables, problems, (), budget or Budget(2**62), found)


def _walk(
    data: Any,
    variables: dict[str, Any],
    problems: list[Unresolved],
    path: Path,
    budget: Budget,
    secrets: list[Path],
) -> Any:
    if isinstance(data, str):
        if "${" not in data:
            return data
        out = _string(data, variables, problems, path, budget)
        if isinstance(out, str) and SECRET_PREFIX in out and _holds_reference(out):
            secrets.append(path)
        return out
    if isinstance(data, dict):
        return {k: _walk(v, variables, problems, (*path, k), budget, secrets) for k, v in data.items()}
    if isinstance(data, list):
        return [_walk(v, variables, problems, (*path, i), budget, secrets) for i, v in enumerate(data)]
    return data


def _holds_reference(text: str) -> bool:
    """A real ``${secret.`` (not only an escaped ``$${secret.``)."""
    return any(m.group(0) != "$${" for m in _REF.finditer(text) if m.group(0).startswith("${secret."))


def _resolve(expr: str, variables: dict[str, Any]) -> tuple[bool, Any, str]:
    m = _VAR.match(expr.strip())
    if m is None:
        return False, None, "only `${var.NAME}` and `${secret.NAME}` references are supported"
    name = m.group(1)
    if name not in variables:
        return False, name, "undefined"
    return True, variables[name], ""


def _string(
    text: str, variables: dict[str, Any], problems: list[Unresolved], path: tuple[str | int, ...], budget: Budget
) -> Any:
    keep_escapes = SECRET_PREFIX in text  # a string with a reference keeps `$${` as written (compiler.secrets)
    whole = _REF.fullmatch(text)
    if whole and whole.group(0) != "$${":
        if is_secret_expression(whole.group(1)):
            bad = name_problem(whole.group(1))
            if bad:
                problems.append(Unresolved(path, whole.group(1), 0, f"{BAD_SECRET}: {bad}"))
            return text
        ok, value, reason = _resolve(whole.group(1), variables)
        if ok and _spend(budget, len(value) if isinstance(value, str) else 0, problems, path, whole):
            return value
        if not ok:
            problems.append(Unresolved(path, whole.group(1), 0, reason))
        return text

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "$${" if keep_escapes else "${"
        if is_secret_expression(m.group(1)):
            bad = name_problem(m.group(1))
            if bad:
                problems.append(Unresolved(path, m.group(1), m.start(), f"{BAD_SECRET}: {bad}"))
            return m.group(0)
        ok, value, reason = _resolve(m.group(1), variables)
        if ok:
            out = str(value).lower() if isinstance(value, bool) else str(value)
            return out if _spend(budget, len(out), problems, path, m) else m.group(0)
        problems.append(Unresolved(path, m.group(1), m.start(), reason))
        return m.group(0)

    return _REF.sub(sub, text)


def _spend(
    budget: Budget, size: int, problems: list[Unresolved], path: tuple[str | int, ...], m: re.Match[str]
) -> bool:
    if budget.take(size):
        return True
    if not any(p.reason == TOO_LARGE for p in problems):
        problems.append(Unresolved(path, m.group(1), m.start(), TOO_LARGE))
    return False


def deep_merge(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return patch
