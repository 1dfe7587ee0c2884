"""Who is asking, from the strongest source there is here (issue 30, item 3), and which one it was.

1. **oidc**: in CI, the job's OpenID Connect token: GitHub Actions hands one to a job with
   ``permissions: id-token: write`` (``ACTIONS_ID_TOKEN_REQUEST_URL`` / ``_TOKEN``); any other CI can
   pass one in ``MODELPLANE_OIDC_TOKEN``. The identity is its ``actor`` claim (else ``sub``).
2. **git-signed-commit**: the author e-mail of the checkout's HEAD commit where git verifies its
   signature (``%G?`` is ``G``: a good signature from a trusted key).
3. **os-user**: the name of the process's real uid in the password database (``pwd``), never
   ``$USER``/``$LOGNAME``, which anyone sets.

The token's signature is not verified here (that needs the issuer's keys over the network); it comes
from the CI runner's own environment, which a job's steps cannot write for another job.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Source = Literal["oidc", "git-signed-commit", "os-user"]


@dataclass(frozen=True)
class Identity:
    name: str
    """What approver lists name: a CI actor, an e-mail address, an OS user name."""
    source: Source
    detail: str = ""

    @property
    def who(self) -> str:
        """As the audit trail records it: ``name@host`` (where it was given)."""
        return f"{self.name}@{socket.gethostname()}"

    @property
    def via(self) -> str:
        return self.source + (f": {self.detail}" if self.detail else "")


def _claims(token: str) -> dict[str, object]:
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _oidc_token(env: Mapping[str, str]) -> str | None:
    if token := env.get("MODELPLANE_OIDC_TOKEN"):
        return token
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        return None
    sep = "&" if urllib.parse.urlparse(url).query else "?"
    req = urllib.request.Request(f"{url}{sep}audience=modelplane", headers={"Authorization": f"Bearer {bearer}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            value = json.loads(resp.read()).get("value")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None


def _signed_commit_author(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%G?%x00%ae"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    status, _, email = out.stdout.strip().partition("\0")
    return email if out.returncode == 0 and status == "G" and email else None


def os_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # no passwd entry (some containers)
        return f"uid-{os.getuid()}"


def current(root: Path, env: Mapping[str, str] | None = None) -> Identity:
    """The asker's identity from the strongest source available here."""
    env = os.environ if env is None else env
    token = _oidc_token(env)
    if token:
        claims = _claims(token)
        actor = claims.get("actor") or claims.get("sub")
        if isinstance(actor, str) and actor:
            where = claims.get("repository") or claims.get("iss") or ""
            return Identity(actor, "oidc", str(where))
    author = _signed_commit_author(root)
    if author:
        return Identity(author, "git-signed-commit", "HEAD")
    return Identity(os_user(), "os-user", f"uid {os.getuid()}")
