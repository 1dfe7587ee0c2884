"""A project's settings for one environment: where its Temporal and its state are.

``settings_for(root, env)`` reads modelplane.yaml (with the environment's
overrides and the ``MODELPLANE_TEMPORAL_*`` variables); ``open_store`` opens the
state it names. Reaching Temporal is ``runtime.temporal.client``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelplane.compiler.source.files import FileSource
from modelplane.compiler.source.scan import load_project_file
from modelplane.errors import ModelplaneError
from modelplane.runtime import state as state_backend
from modelplane.runtime.state import Store
from modelplane.specs.project import Environment, Project, StateSettings, TemporalSettings


@dataclass(frozen=True)
class Settings:
    root: Path
    project: Project
    environment: str
    temporal: TemporalSettings
    state: StateSettings

    @property
    def embedded(self) -> bool:
        return self.temporal.address == "embedded"

    @property
    def workflow_id(self) -> str:
        """The lock: one apply per project and environment at a time."""
        return f"apply/{self.project.name}/{self.environment}"


def settings_for(root: Path, env: str | None) -> Settings:
    project, _ = load_project_file(FileSource(root))
    name = project.env_name(env)
    if name not in project.environments:
        from modelplane.errors import did_you_mean

        raise ModelplaneError(
            f"unknown environment `{name}`", hint=did_you_mean(name, project.environments, "environments")
        )
    return Settings(root, project, name, temporal_from_environ(project.temporal_for(name)), project.state_for(name))


def worker_settings(root: Path, env: str | None) -> Settings:
    """A worker's settings: the project file's where ``root`` has one; else a worker service configured by its
    environment alone (issue 30): ``MODELPLANE_TEMPORAL_ADDRESS`` (and the other ``MODELPLANE_TEMPORAL_*``)
    says where to poll, ``MODELPLANE_STATE_URL`` the state for an input that names none (an apply's input names
    its own). Neither set and no project file: the no-project error, with both ways out in its hint."""
    if (root / "modelplane.yaml").is_file():
        return settings_for(root, env)
    if not os.environ.get("MODELPLANE_TEMPORAL_ADDRESS"):
        raise ModelplaneError(
            f"no modelplane.yaml in {root}, and MODELPLANE_TEMPORAL_ADDRESS is not set: this worker does not know "
            "which Temporal service to poll",
            hint="run it in a directory with a modelplane.yaml (its `temporal:` section), or set "
            "MODELPLANE_TEMPORAL_ADDRESS (and MODELPLANE_TEMPORAL_NAMESPACE, MODELPLANE_TEMPORAL_TASK_QUEUE, "
            "MODELPLANE_STATE_URL as needed)",
        )
    project = Project(name="worker", environments={env or "dev": Environment()})
    name = project.env_name(env)
    return Settings(root, project, name, temporal_from_environ(project.temporal), project.state)


TEMPORAL_ENVIRON = {
    "MODELPLANE_TEMPORAL_ADDRESS": "address",
    "MODELPLANE_TEMPORAL_NAMESPACE": "namespace",
    "MODELPLANE_TEMPORAL_TASK_QUEUE": "task_queue",
}
"""Environment variables that win over the project file's `temporal:` (a CI job or a worker service
points every checkout at the team's cluster without editing it). The API key is read from
``MODELPLANE_TEMPORAL_API_KEY`` or ``temporal.api_key_file``, never from the project file itself."""


def temporal_from_environ(t: TemporalSettings) -> TemporalSettings:
    update = {field: os.environ[var] for var, field in TEMPORAL_ENVIRON.items() if os.environ.get(var)}
    return t.model_copy(update=update) if update else t


def open_store(root: Path, state: StateSettings) -> Store:
    """The environment's store: SQLite under .modelplane/ or PostgreSQL (see ``state_backend``)."""
    return state_backend.open_store(root, state)


def state_path(root: Path, state: StateSettings) -> Path:
    """The SQLite state file, confined to the project (see ``confined_state_path``)."""
    from modelplane.runtime.state.url import confined_state_path

    return confined_state_path(root, state.path)
