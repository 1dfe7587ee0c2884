"""Secret references (``${secret.NAME}``): their syntax, where they may appear, where each is read from.

Pure: nothing here reads a secret's value. The compiler keeps a reference
verbatim in the normalized document, so plans, fingerprints, caches, diffs,
reports and the state only ever hold ``${secret.NAME}``; the runtime
(``runtime.secrets``) swaps in the value inside the activity that needs it, at
the moment it starts a process, and the Kubernetes renderer turns it into
``$(MP_SECRET_NAME)`` with a ``secretKeyRef``.

In a string holding a reference, ``$${`` stays written as ``$${`` (the
runtime and the renderer unescape it where they substitute), so an escaped
``$${secret.X}`` is never taken for a reference.

Also here: the cheap check that warns about a literal that looks like a
credential in a plain field (``credential-in-spec``), without printing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from modelplane.specs.kinds import registry
from modelplane.specs.kinds.facets import SecretField

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PREFIX = "${secret."
EXPRESSION = re.compile(r"^\s*secret\.(.*?)\s*$")
_NAME = re.compile(NAME_PATTERN)
_TOKEN = re.compile(r"\$\$\{|\$\{secret\.([A-Za-z_][A-Za-z0-9_]*)\}")

KUBERNETES_SECRET = "modelplane-secrets"
"""The Kubernetes Secret (in the stack's namespace) an undeclared name is read from, key NAME."""
ENV_PREFIX = "MODELPLANE_SECRET_"
"""An undeclared name is read, on the worker, from the environment variable ``MODELPLANE_SECRET_<NAME>``."""
PROCESS_ENV_PREFIX = "MP_SECRET_"
"""What a replica or command sees: the value in ``MP_SECRET_<NAME>`` (local and Kubernetes alike)."""


def is_secret_expression(expr: str) -> bool:
    """``secret.NAME`` (what is inside ``${...}``), whatever NAME is."""
    return EXPRESSION.match(expr) is not None


def name_problem(expr: str) -> str | None:
    """Why ``secret.NAME`` is not a valid reference, or None."""
    m = EXPRESSION.match(expr)
    name = m.group(1) if m else ""
    if expr != expr.strip() or (m and m.group(1) != name.strip()):
        return "write it without spaces: `${secret.NAME}`"
    if not _NAME.match(name):
        return (
            f"`{name}` is not a secret name: letters, digits and `_`, not starting with a digit "
            "(e.g. `${secret.HF_TOKEN}`)"
        )
    return None


def names_in(data: Any) -> list[str]:
    """Every secret name referenced anywhere in ``data`` (strings, lists, mappings), sorted, once each."""
    found: set[str] = set()
    _collect(data, found)
    return sorted(found)


def _collect(data: Any, found: set[str]) -> None:
    if isinstance(data, str):
        if PREFIX in data:
            found.update(m.group(1) for m in _TOKEN.finditer(data) if m.group(1))
    elif isinstance(data, dict):
        for v in data.values():
            _collect(v, found)
    elif isinstance(data, list | tuple):
        for v in data:
            _collect(v, found)


def substitute(text: str, value_of: Callable[[str], str]) -> str:
    """``text`` with each reference replaced by ``value_of(NAME)`` (and ``$${`` by ``${``); text without a
    reference is returned as it is (its ``$${`` was unescaped at compile time)."""
    if PREFIX not in text:
        return text
    return _TOKEN.sub(lambda m: value_of(m.group(1)) if m.group(1) else "${", text)


def process_env_var(name: str) -> str:
    return PROCESS_ENV_PREFIX + name


def kubernetes_arg(text: str) -> str:
    """A container argument for Kubernetes: each reference becomes ``$(MP_SECRET_NAME)``, expanded by the
    kubelet from the container's env; a literal ``$`` around it is written ``$$`` (Kubernetes' escape)."""
    if PREFIX not in text:
        return text
    out: list[str] = []
    last = 0
    for m in _TOKEN.finditer(text):
        out.append(text[last : m.start()].replace("$", "$$"))
        out.append(f"$({process_env_var(m.group(1))})" if m.group(1) else "$${")
        last = m.end()
    out.append(text[last:].replace("$", "$$"))
    return "".join(out)


# -- where each secret is read from: the one function that decides ------------------------------------------------

Where = Literal["process", "kubernetes"]


@dataclass(frozen=True)
class Source:
    """Where one secret's value comes from, for a process the worker starts or for a Kubernetes pod."""

    name: str
    kind: Literal["env", "file", "kubernetes"]
    env: str = ""
    file: str = ""
    secret: str = ""
    key: str = ""

    def describe(self) -> str:
        if self.kind == "env":
            return f"the environment variable {self.env}"
        if self.kind == "file":
            return f"the file {self.file}"
        return f"key `{self.key}` of the Kubernetes Secret `{self.secret}`"

    def hint(self) -> str:
        if self.kind == "env":
            return (
                f"set {self.env} in the worker's environment (embedded mode: the background worker keeps the "
                f"environment of the command that started it; `modelplane server --stop`, then apply again with it "
                f"set), or declare `secrets: {{{self.name}: {{env: VAR}} | {{file: PATH}}}}` in modelplane.yaml"
            )
        if self.kind == "file":
            return f"create {self.file} (readable by the worker, ideally mode 0600), or change `secrets.{self.name}`"
        return (
            f"kubectl create secret generic {self.secret} --from-literal={self.key}=... in the stack's namespace, "
            f"or declare `secrets: {{{self.name}: {{kubernetes: {{secret: NAME, key: KEY}}}}}}` in modelplane.yaml"
        )


def source(name: str, declared: Mapping[str, Any] | None, where: Where) -> Source:
    """Where secret ``name`` is read from ``where``: its declaration in modelplane.yaml's ``secrets:``
    (``env:`` or ``file:`` for processes, ``kubernetes: {secret, key}`` for pods), else the default:
    ``MODELPLANE_SECRET_<NAME>`` for a process, key NAME of the Secret ``modelplane-secrets`` for a pod."""
    decl = (declared or {}).get(name) or {}
    if where == "kubernetes":
        kube = decl.get("kubernetes") or {}
        return Source(name, "kubernetes", secret=kube.get("secret") or KUBERNETES_SECRET, key=kube.get("key") or name)
    if decl.get("file"):
        return Source(name, "file", file=str(decl["file"]))
    return Source(name, "env", env=str(decl.get("env") or ENV_PREFIX + name))


# -- where a reference may be written ------------------------------------------------------------------------------

ALLOWED = (
    "`engine.extra_args` values (Endpoint), `command` arguments (Workflow, Evaluation), `uri` (Dataset), "
    "`artifact` (Model), stack `settings` other tools read, and variables used there"
)


def allowed(kind: object, path: tuple[str | int, ...], known_settings: frozenset[str] = frozenset()) -> bool:
    """May a reference be at ``path`` of a ``kind`` document? Only where a string is passed on verbatim: the
    secret fields its kind declares (specs/kinds/)."""
    entry = registry.find(kind)
    if entry is None or len(path) < 2 or path[0] != "spec":
        return False
    return any(f.references and _within(f, path[1:], known_settings) for f in entry.secrets)


def _within(place: SecretField, field: tuple[str | int, ...], known_settings: frozenset[str]) -> bool:
    n = len(place.path)
    if field[:n] != place.path:
        return False
    if place.shape == "value":
        return len(field) == n
    if place.shape == "flags":
        return len(field) == n + 1
    if place.shape == "command":
        return len(field) <= n + 1
    return len(field) > n and field[n] not in known_settings  # a tree: not under a key modelplane reads


# -- a literal that looks like a credential ------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """A literal at ``path`` that looks like ``what``; ``literal`` is what to mask where it is shown."""

    path: tuple[str | int, ...]
    what: str
    literal: str


_CREDENTIAL = re.compile(
    r"(?P<aws>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"
    r"|(?P<github>\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{20,})"
    r"|(?P<huggingface>\bhf_[A-Za-z0-9]{30,})"
    r"|(?P<apikey>\bsk-[A-Za-z0-9_-]{20,})"
    r"|(?P<slack>\bxox[abposr]-[A-Za-z0-9-]{10,})"
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
    r"|(?P<privatekey>-----BEGIN [A-Z ]*PRIVATE KEY-----)"
    r"|(?P<uripassword>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:(?P<password>[^/\s@]+)@)"
)
_WHAT = {
    "aws": "an AWS access key id",
    "github": "a GitHub token",
    "huggingface": "a Hugging Face token",
    "apikey": "an API key",
    "slack": "a Slack token",
    "jwt": "a JSON Web Token",
    "privatekey": "a private key",
    "uripassword": "a password in a URI",
}
_SENSITIVE_KEY = re.compile(
    r"(?i)(?:^|[-_.])(?:token|password|passwd|secret|api[-_]?key|apikey|access[-_]?key|private[-_]?key|"
    r"credentials?|client[-_]secret)(?:[-_.]|$)"
)
_NOT_A_VALUE_KEY = re.compile(r"(?i)[-_.](?:file|path|env|dir|name|id|header|type|mode|url)$")


def sensitive_key(key: str) -> bool:
    """A flag or key named like a credential (``hf-token``, ``--api-key``, ``db_password``), not a file of one."""
    key = key.lstrip("-")
    return bool(_SENSITIVE_KEY.search(key)) and not _NOT_A_VALUE_KEY.search(key)


_HINT = re.compile(r"AKIA|ASIA|gh|hf_|sk-|xox|eyJ|PRIVATE KEY|@")
"""A substring every shape of ``_CREDENTIAL`` holds: most strings skip the full regex (a tenth of its cost)."""


def _looks(value: str) -> tuple[str, str] | None:
    """(what, the part to mask) when ``value`` holds a known credential shape outside a reference."""
    if _HINT.search(value) is None:
        return None
    m = _CREDENTIAL.search(value)
    if m is None:
        return None
    kind = m.lastgroup if m.lastgroup != "password" else "uripassword"
    if m.group("uripassword") is not None:
        password = m.group("password")
        if password.startswith(("${", "$(")):  # a reference, or Kubernetes' expansion: not a literal
            return None
        return _WHAT["uripassword"], password
    return _WHAT[str(kind)], m.group(0)


def none_look_like_credentials(texts: list[str]) -> bool:
    """Whether no text of these, each the whole value of a field without a key (a URI, a command line, an argument
    no flag names), could hold a credential: one search over them all for what every credential shape holds. A
    field's value is only ever reported for its shape when its key is not sensitive, and these have no key."""
    return _HINT.search("\n".join(texts)) is None  # no shape holds a line break: none spans two texts


def _literal(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip()) and PREFIX not in value and not value.startswith("$(")


def credentials(kind: object, spec: Mapping[str, Any]) -> Iterator[Credential]:
    """Literals that look like credentials in the fields where they turn up (a document's raw ``spec``): the
    secret fields its kind declares."""
    entry = registry.find(kind)
    for place in entry.secrets if entry is not None else ():
        yield from _scan(place, spec)


def _dig(spec: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = spec
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _scan(place: SecretField, spec: Mapping[str, Any]) -> Iterator[Credential]:
    at: tuple[str | int, ...] = ("spec", *place.path)
    value = _dig(spec, place.path)
    if place.shape == "value":
        yield from _value(at, "", value)
    elif place.shape == "tree":
        yield from _walk(at, "", value)
    elif place.shape == "flags":
        if isinstance(value, dict):
            for flag, arg in value.items():
                yield from _value((*at, flag), str(flag), arg)
    elif isinstance(value, str):  # a command line as text
        yield from _value(at, "", value)
    elif isinstance(value, list):  # a command as arguments: a flag names the value after it
        previous = ""
        for i, arg in enumerate(value):
            if isinstance(arg, str):
                flag, eq, rest = arg.partition("=")
                if eq and flag.startswith("-"):
                    yield from _value((*at, i), flag, rest)
                else:
                    yield from _value((*at, i), previous, arg)
                previous = arg if arg.startswith("-") else ""


def _walk(path: tuple[str | int, ...], key: str, value: Any) -> Iterator[Credential]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk((*path, k), str(k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk((*path, i), key, v)
    else:
        yield from _value(path, key, value)


def _value(path: tuple[str | int, ...], key: str, value: object) -> Iterator[Credential]:
    if not _literal(value):
        return
    assert isinstance(value, str)
    found = _looks(value)
    if found is not None:
        yield Credential(path, found[0], found[1])
    elif key and sensitive_key(key):
        yield Credential(path, f"a literal value for `{key}`", value)


def mask_line(line: str | None, literal: str) -> str | None:
    """The source line with the credential masked; None where it cannot be found in it (never shown raw)."""
    if line is None or not literal or literal not in line:
        return None
    return line.replace(literal, "****")
