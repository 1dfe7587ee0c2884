"""The project file, ``modelplane.yaml``: spec paths, environments, state and Temporal settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from modelplane.files import PROJECT_FILE as PROJECT_FILE  # re-exported: where the project model is
from modelplane.specs.base import Bool, Name, StrictModel
from modelplane.specs.common import QUALIFIED_REF_PATTERN, Duration
from modelplane.specs.pricing import Pricing

Scalar = str | int | float | bool


class StateSettings(StrictModel):
    backend: Literal["sqlite", "postgres"] = Field(
        default="sqlite",
        description="Where the state is kept: `sqlite` (one file per checkout) or `postgres` (shared by a team); "
        "`state: postgres` is short for `{backend: postgres}`.",
    )
    path: str = Field(default=".modelplane/state.db", description="SQLite file, relative to the project root.")
    url: str | None = Field(
        default=None,
        description="PostgreSQL URL when backend is postgres, without a password (MODELPLANE_STATE_URL overrides it).",
    )
    password_file: str | None = Field(
        default=None, description="File whose first line is the PostgreSQL password (relative to the project root)."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `state: postgres` is short for `state: {backend: postgres}`
        return {"backend": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _no_password_in_the_project_file(self) -> StateSettings:
        # modelplane.yaml is committed: a password there would be in git history for good
        userinfo, at, _ = (self.url or "").partition("://")[2].rpartition("@")  # the last @: passwords may hold one
        if at and ":" in userinfo:
            raise ValueError(
                "state.url carries a password; modelplane.yaml is committed, so keep it out: use "
                "`password_file:`, MODELPLANE_STATE_PASSWORD_FILE, PGPASSWORD or ~/.pgpass"
            )
        if self.url and "password=" in self.url.lower():
            raise ValueError("state.url carries a password= parameter; use `password_file:` or PGPASSWORD instead")
        return self


class TemporalSettings(StrictModel):
    address: str = Field(
        default="embedded",
        description="`embedded` starts a local dev server under .modelplane/; otherwise host:port of a cluster.",
    )
    namespace: str = Field(
        default="default",
        description="The Temporal namespace applies run in (MODELPLANE_TEMPORAL_NAMESPACE overrides it).",
    )
    task_queue: str = Field(
        default="modelplane", description="The task queue workers poll (MODELPLANE_TEMPORAL_TASK_QUEUE overrides it)."
    )
    tls: Bool = Field(default=False, description="Connect to the Temporal service over TLS.")
    tls_cert: str | None = Field(
        default=None,
        description="With `tls`: the client certificate file for mutual TLS (relative to the project root).",
    )
    tls_key: str | None = Field(
        default=None,
        description="With `tls`: the client certificate's private key file (relative to the project root).",
    )
    api_key_file: str | None = Field(
        default=None,
        description="A file holding the Temporal API key (or set MODELPLANE_TEMPORAL_API_KEY); never the key itself.",
    )
    ui: Literal["read-only", "on", "off"] = Field(
        default="read-only",
        description="Embedded mode: the Temporal Web UI. `read-only` shows everything and allows no write "
        "action (terminate, reset, signal would leave a rollout half done); `on` allows them; `off` runs none.",
    )
    idle_stop: Duration = Field(
        default="15m",
        description="Embedded mode: the background worker and dev server stop after this long with no apply "
        "running, and start again with the next command that needs them.",
    )


SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class LineageTransport(StrictModel):
    """Where OpenLineage events go: one of openlineage-python's transports, with only what it needs."""

    type: Literal["http", "file", "console"] = Field(
        description="http (Marquez, DataHub...), file (JSON lines) or console."
    )
    url: str | None = Field(default=None, description="http: the receiver's base URL, e.g. http://marquez:5000.")
    endpoint: str = Field(default="api/v1/lineage", description="http: the path events are POSTed to.")
    timeout: float = Field(default=5.0, gt=0, le=60, description="http: seconds per request.")
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="http: the environment variable (on the worker) holding a bearer token; never the token.",
    )
    path: str | None = Field(default=None, description="file: where events are appended as JSON lines (from the root).")

    @model_validator(mode="after")
    def _needs(self) -> LineageTransport:
        if self.type == "http":
            if not self.url:
                raise ValueError("lineage.transport.type http needs `url:` (e.g. http://localhost:5000)")
            if not self.url.startswith(("http://", "https://")):
                raise ValueError(f"lineage.transport.url `{self.url}` is not an http:// or https:// URL")
            if "@" in self.url.partition("://")[2].partition("/")[0]:
                raise ValueError("lineage.transport.url carries credentials; use `api_key_env:` instead")
        if self.type == "file" and not self.path:
            raise ValueError("lineage.transport.type file needs `path:` (e.g. .modelplane/lineage.jsonl)")
        return self


class LineageSettings(StrictModel):
    """OpenLineage events from ``apply``: job events with each node's declared lineage, run events for
    workflow runs, evaluations and rollouts. Without ``transport`` the client reads its own configuration
    (``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml``) on the worker."""

    enabled: Bool = Field(default=True, description="Whether `apply` sends OpenLineage events at all.")
    namespace: str | None = Field(
        default=None, description="The jobs' and datasets' namespace (default: modelplane://<project>/<env>)."
    )
    transport: LineageTransport | None = Field(
        default=None,
        description="Where events go (http, a file, the console); unset: the OpenLineage client's own configuration.",
    )
    buffer: int = Field(default=1000, ge=1, le=1_000_000, description="Events held for sending; beyond, dropped.")
    retries: int = Field(default=3, ge=0, le=20, description="Tries per event after the first, with backoff.")


class KubernetesSecretRef(StrictModel):
    secret: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)] = Field(
        description="The Kubernetes Secret's name, in the stack's namespace."
    )
    key: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$")] = Field(
        description="The key in that Secret holding the value."
    )


class SecretSource(StrictModel):
    """Where a ``${secret.NAME}`` is read: for processes the worker starts (``env`` or ``file``, default the
    variable ``MODELPLANE_SECRET_<NAME>``) and for Kubernetes pods (default key NAME of ``modelplane-secrets``).
    Never the value: modelplane.yaml is committed."""

    env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = Field(
        default=None, description="An environment variable of the worker."
    )
    file: str | None = Field(
        default=None, description="A file on the worker whose content is the value (relative to the project, ~ ok)."
    )
    kubernetes: KubernetesSecretRef | None = Field(
        default=None, description="On Kubernetes stacks: the Secret (in the stack's namespace) and key pods read."
    )

    @model_validator(mode="after")
    def _one_process_source(self) -> SecretSource:
        if self.env and self.file:
            raise ValueError("a secret is read from `env` or from `file`, not both")
        return self


class Limits(StrictModel):
    max_file_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=1_048_576, description="The largest spec file read, in bytes; a bigger one is an error."
    )
    max_alias_events: Annotated[int, Field(ge=0)] = Field(
        default=10_000, description="The most YAML alias expansions in one file (a guard against alias bombs)."
    )


ApprovalClass = Literal[
    "broken",
    "retrain-required",
    "re-evaluate-required",
    "rollout-required",
    "notify",
    "breaking",
    "non-breaking",
    "metadata-only",
]
"""What a plan can hold: the impact categories of affected nodes, and the effects of changed nodes."""


class Approvals(StrictModel):
    """Which classes of change apply only once their owners approve; every other class applies automatically."""

    require: list[ApprovalClass] = Field(
        default_factory=list,
        description="E.g. [broken, breaking, retrain-required]: each affected (or changed) node of these classes "
        "needs its owner's `modelplane approve --plan`; apply waits or exits with the list.",
    )
    approvers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Owner -> who may approve for it: OS user names, e-mail addresses of signed git commits' "
        "authors, CI (OIDC) actors. An owner missing here is approved only by an identity of its own name.",
    )


class Environment(StrictModel):
    description: str = Field(default="", description="What the environment is, for people.")
    approvals: Approvals = Field(
        default_factory=Approvals,
        description="Which classes of change need their owners' approval before they apply here.",
    )
    variables: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Scalar] = Field(
        default_factory=dict, description="`${var.NAME}` values in this environment, over the project's `variables`."
    )
    overrides: dict[Annotated[str, StringConstraints(pattern=QUALIFIED_REF_PATTERN)], dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-node patches deep-merged into the documents, keyed by `kind/name`.",
    )
    state: StateSettings | None = Field(
        default=None, description="This environment's own state store; unset: the project's `state`."
    )
    temporal: TemporalSettings | None = Field(
        default=None, description="This environment's own Temporal service; unset: the project's `temporal`."
    )
    secrets: dict[SecretName, SecretSource] = Field(
        default_factory=dict, description="Per secret name, where this environment reads it (over the project's)."
    )


class Moved(StrictModel):
    """A node renamed since it was applied (``kind/old`` -> ``kind/new``), as Terraform's ``moved`` block: the
    next plan compares the new spec with what was applied under the old id, so it is updated in place
    instead of deleted and created. ``modelplane lsp`` writes one when it renames an applied node."""

    from_: Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-z0-9][a-z0-9-]{0,62}$")] = Field(
        alias="from", description="The node's old id, `kind/name`, as it was applied."
    )
    to: Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-z0-9][a-z0-9-]{0,62}$")] = Field(
        description="The node's new id, `kind/name`."
    )


class Project(StrictModel):
    apiVersion: Literal["modelplane/v1"] = Field(
        default="modelplane/v1", description="The project file format's version: `modelplane/v1`."
    )
    name: Name = Field(
        description="The project's name: part of every apply's workflow id (`apply/<project>/<env>`) and of lineage namespaces."
    )
    specs: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["specs/**/*.yaml", "specs/**/*.yml"],
        description="Globs (relative to the project root) of the spec files: `*` stays in one folder, `**` crosses folders.",
    )
    variables: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Scalar] = Field(
        default_factory=dict, description="Defaults for every environment."
    )
    environments: dict[Name, Environment] = Field(
        default_factory=lambda: {"dev": Environment()},
        description="The environments by name (`dev`, `prod`...), each with its variables, overrides, approvals and settings.",
    )
    default_environment: Name | None = Field(
        default=None, description="The environment commands use without `--env`; unset: the first one declared."
    )
    state: StateSettings = Field(
        default_factory=StateSettings,
        description="Where applied state, history and locks are kept (SQLite by default, or PostgreSQL).",
    )
    temporal: TemporalSettings = Field(
        default_factory=TemporalSettings,
        description="The Temporal service `apply` runs on: `embedded` (a local dev server) or a team's cluster.",
    )
    limits: Limits = Field(default_factory=Limits, description="Guards on what the loader reads.")
    lineage: LineageSettings | None = Field(
        default=None, description="Where `apply` sends OpenLineage events (none without this or OPENLINEAGE_*)."
    )
    profiles: str = Field(
        default="profiles",
        description="Folder (relative to the project) where `modelplane bench` writes capacity profiles and "
        "where an endpoint's profile is found by its key.",
    )
    pricing: Pricing = Field(default_factory=Pricing, description="GPU prices for the cost shown by `plan`.")
    moved: list[Moved] = Field(
        default_factory=list, description="Nodes renamed since they were applied: updated in place, not replaced."
    )
    secrets: dict[SecretName, SecretSource] = Field(
        default_factory=dict,
        description="Where each `${secret.NAME}` is read at apply time (never its value); undeclared names are "
        "read from MODELPLANE_SECRET_<NAME> on the worker, and on Kubernetes from key NAME of the Secret "
        "`modelplane-secrets`.",
    )

    @model_validator(mode="after")
    def _default_env_exists(self) -> Project:
        if not self.environments:
            raise ValueError("declare at least one environment")
        if self.default_environment and self.default_environment not in self.environments:
            raise ValueError(
                f"default_environment `{self.default_environment}` is not one of: {', '.join(self.environments)}"
            )
        return self

    def env_name(self, requested: str | None) -> str:
        return requested or self.default_environment or next(iter(self.environments))

    def variables_for(self, env: str) -> dict[str, Scalar]:
        return {**self.variables, **self.environments[env].variables}

    def secrets_for(self, env: str) -> dict[str, dict[str, Any]]:
        """The declared sources of secrets in ``env`` (plain data: the plan carries them to the worker)."""
        merged = {**self.secrets, **self.environments[env].secrets}
        return {name: s.model_dump(exclude_none=True, mode="json") for name, s in merged.items()}

    def state_for(self, env: str) -> StateSettings:
        """The environment's own ``state:``, else the project's (what ``runtime.settings.settings_for`` uses)."""
        return self.environments[env].state or self.state

    def temporal_for(self, env: str) -> TemporalSettings:
        """The environment's own ``temporal:``, else the project's."""
        return self.environments[env].temporal or self.temporal
