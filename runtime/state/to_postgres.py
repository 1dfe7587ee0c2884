"""``modelplane state migrate``: a project's SQLite state copied into PostgreSQL, checked by exporting both."""

from __future__ import annotations

import os
from dataclasses import dataclass

from modelplane.errors import ModelplaneError
from modelplane.runtime.settings import Settings, state_path
from modelplane.runtime.state.export import Migrated


@dataclass
class ToPostgres:
    migrated: Migrated
    shown: str
    """The URL as given, its password masked."""
    described: str
    """The target as a project file names it (``state: {backend: postgres, url: ...}``)."""


def migrate_to_postgres(s: Settings, to: str, force: bool = False) -> ToPostgres:
    """Copy the SQLite state into PostgreSQL at ``to``; running it twice is safe."""
    from modelplane.runtime.state import open_target
    from modelplane.runtime.state.export import migrate
    from modelplane.runtime.state.sqlite import StateStore
    from modelplane.runtime.state.url import postgres_target, redact

    path = state_path(s.root, s.state)
    if not path.exists():
        raise ModelplaneError(f"there is no SQLite state to migrate: {path} does not exist", hint="nothing to do")
    target = open_target(postgres_target(to, s.root, s.state.password_file, os.environ, "--to"))
    return ToPostgres(migrate(StateStore(path), target, force), redact(to), target.describe())
