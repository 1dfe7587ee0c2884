"""Where the state lives, and keeping the database password out of every message.

The backend comes from ``MODELPLANE_STATE_URL`` when it is set (it wins, so CI
and a shared worker can point every checkout at one database without editing
modelplane.yaml), otherwise from the environment's ``state:`` setting. The
password never travels inside the URL that is shown or logged: it is split off
here and handed to the driver separately, from (first found) the URL itself,
the file named by ``MODELPLANE_STATE_PASSWORD_FILE``, the file named by
``state.password_file``; otherwise libpq's own ``PGPASSWORD`` / ``PGPASSFILE`` /
``~/.pgpass`` apply. Every message that names a database goes through
``redact``, and driver errors through ``scrub``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from modelplane.compiler.source.files import read_named_file, setting_path
from modelplane.errors import ModelplaneError
from modelplane.specs.project import StateSettings

URL_ENV = "MODELPLANE_STATE_URL"
PASSWORD_FILE_ENV = "MODELPLANE_STATE_PASSWORD_FILE"
SCHEMES = ("postgres", "postgresql")
MASK = "***"


@dataclass(frozen=True)
class StateTarget:
    """A resolved state location; ``password`` is kept out of ``repr`` so a traceback cannot show it."""

    backend: Literal["sqlite", "postgres"]
    path: Path | None = None
    url: str | None = None
    """The PostgreSQL URL without any password."""
    password: str | None = field(default=None, repr=False)
    source: str = "modelplane.yaml"
    """Where the choice came from, for messages (``modelplane.yaml`` or the environment variable)."""

    def describe(self) -> str:
        return str(self.path) if self.backend == "sqlite" else redact(self.url or "")

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES


def _authority(url: str) -> tuple[str, str, str] | None:
    """(``scheme://``, userinfo, the rest) split at the last ``@``, so a password with an unquoted ``@``, ``:``
    or ``/`` still lands in the userinfo; None without a userinfo."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo, _, host = rest.rpartition("@")
    return head + sep, userinfo, host


def redact(url: str) -> str:
    """The URL with any password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    parts = _authority(url)
    if parts and ":" in parts[1]:
        url = f"{parts[0]}{parts[1].split(':', 1)[0]}:{MASK}@{parts[2]}"
    return re.sub(r"([?&]password=)[^&#]*", rf"\1{MASK}", url, flags=re.IGNORECASE)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret (and the form it takes inside a URL) masked: driver errors may echo them."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, MASK)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", rf"\1{MASK}", text, flags=re.IGNORECASE)


def split_password(url: str) -> tuple[str, str | None]:
    """(the URL without a password, the password it carried or None)."""
    password: str | None = None
    parts = _authority(url)
    if parts and ":" in parts[1]:
        user, raw = parts[1].split(":", 1)
        password = unquote(raw)
        url = f"{parts[0]}{user}@{parts[2]}"
    split = urlsplit(url)
    pairs = parse_qsl(split.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() != "password"]
    if len(kept) != len(pairs):
        password = next(v for k, v in pairs if k.lower() == "password")
        url = urlunsplit((split.scheme, split.netloc, split.path, urlencode(kept), split.fragment))
    return url, password


def confined_state_path(root: Path, written: str) -> Path:
    """``state.path`` as a path inside the project, or a ModelplaneError before anything touches it.

    A modelplane.yaml on a branch is read by whoever checks it out: a state.path pointing out of the project
    (``../../.bashrc``, an absolute path, a symlink leading out) would have `plan` narrow that file to 0600 and
    open it as SQLite. A folder there is refused with its own message."""
    path = Path(written)
    path = path if path.is_absolute() else root / path
    inside = root.resolve()
    real = path.resolve()
    if real != inside and inside not in real.parents:
        raise ModelplaneError(
            f"state.path `{written}` in modelplane.yaml is outside the project {inside} (it resolves to {real})",
            hint="the SQLite state lives inside the project: use a relative path such as `.modelplane/state.db` "
            "(for state shared across machines use `state: {backend: postgres}`)",
        )
    if real.is_dir():
        raise ModelplaneError(
            f"state.path `{written}` in modelplane.yaml is a folder ({real}), not a state file",
            hint="name a file in it, e.g. `.modelplane/state.db`",
        )
    return path


def resolve(root: Path, state: StateSettings, environ: Mapping[str, str] | None = None) -> StateTarget:
    """The state location for one environment's settings, with the environment variable winning."""
    env = os.environ if environ is None else environ
    url = env.get(URL_ENV, "").strip()
    source = URL_ENV
    if not url:
        if state.backend == "sqlite":
            return StateTarget("sqlite", path=confined_state_path(root, state.path))
        url, source = state.url or "", "modelplane.yaml"
        if not url:
            raise ModelplaneError(
                "the state backend is `postgres` but no database URL is set",
                hint=f"set `state: {{backend: postgres, url: postgresql://user@host:5432/db}}` in modelplane.yaml "
                f"or the {URL_ENV} environment variable",
            )
    return postgres_target(url, root, state.password_file, env, source)


def postgres_target(
    url: str, root: Path, password_file: str | None, environ: Mapping[str, str], source: str
) -> StateTarget:
    if not is_postgres_url(url):
        raise ModelplaneError(
            f"the state URL `{redact(url)}` (from {source}) is not a PostgreSQL URL",
            hint="write it as postgresql://user@host:5432/database",
        )
    bare, password = split_password(url)
    if password is None:
        file = environ.get(PASSWORD_FILE_ENV) or password_file
        if file:
            password = read_password_file(root, file, PASSWORD_FILE_ENV if environ.get(PASSWORD_FILE_ENV) else None)
    return StateTarget("postgres", url=bare, password=password, source=source)


def read_password_file(root: Path, file: str, env_name: str | None) -> str:
    where = env_name or "state.password_file in modelplane.yaml"
    hint = "create it with the password on its first line, readable only by you (chmod 600)"
    text = read_named_file(root, file, "the state database password file", where, hint).decode()
    path = setting_path(root, file)
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ModelplaneError(
            f"the state database password file {path} (named by {where}) is empty",
            hint="put the password on its first line",
        )
    return lines[0]
