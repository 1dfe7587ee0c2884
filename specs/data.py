"""Data kinds: datasets, features and the workflows that produce them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from modelplane.specs.base import API_VERSION_DOC, KIND_DOC, METADATA_DOC, ApiVersion, Bool, Metadata, StrictModel
from modelplane.specs.common import QUALIFIED_REF_PATTERN, Columns, Command, DatasetName, Duration, Text
from modelplane.specs.refs import RefTo


class DatasetSchema(StrictModel):
    """The dataset's columns."""

    columns: Columns = Field(description="Every column, in order: at least one.")


class DatasetSpec(StrictModel):
    uri: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Where the data lives (`s3://...`, `gs://...`, `file://...`, a table name); may hold "
        "`${secret.NAME}`, recorded as written."
    )
    format: Literal["parquet", "delta", "iceberg", "csv", "json", "jsonl", "avro", "tfrecord", "table"] = Field(
        description="How the data is stored."
    )
    schema_: DatasetSchema = Field(
        alias="schema", description="The typed columns; a removed or retyped column breaks what reads it."
    )
    version: Text = Field(
        default="1", description="The data's version; changing it sends a data change downstream (retrain, notify)."
    )
    derived_from: list[Annotated[DatasetName, RefTo(("dataset",), edge="derives")]] = Field(
        default_factory=list, description="Datasets this one is computed from (names): lineage edges `derives`."
    )
    freshness: Duration | None = Field(
        default=None,
        description="How old the data may get (`1d`), declared for people and tools; a change to it sends nothing "
        "downstream.",
    )


class Dataset(StrictModel):
    """A table or file set with a typed schema; the root of lineage."""

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Dataset"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: DatasetSpec = Field(description="The dataset: where it lives, its format, columns and version.")


class FeatureInput(StrictModel):
    """One dataset a feature reads, and which of its columns."""

    dataset: Annotated[DatasetName, RefTo(("dataset",), edge="reads")] = Field(
        description="The dataset read (its name): a lineage edge `reads`."
    )
    columns: Annotated[list[str], Field(min_length=1)] = Field(
        description="The dataset's columns the feature reads; only a change to these breaks or notifies it."
    )


class FeatureSpec(StrictModel):
    inputs: Annotated[list[FeatureInput], Field(min_length=1)] = Field(
        description="The datasets and columns the feature is computed from: at least one."
    )
    entity: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="What a row describes (`user`, `document`): the feature table's key."
    )
    columns: Columns = Field(description="The feature's own typed columns.")
    freshness: Duration | None = Field(
        default=None, description="How old the features may get, declared; a change to it sends nothing downstream."
    )


class Feature(StrictModel):
    """Columns computed from datasets for an entity (a feature table)."""

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Feature"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: FeatureSpec = Field(description="The feature table: its inputs, entity and columns.")


QualifiedRef = Annotated[str, StringConstraints(pattern=QUALIFIED_REF_PATTERN)]


class WorkflowSpec(StrictModel):
    inputs: list[Annotated[QualifiedRef, RefTo(("dataset", "feature", "model"), edge="input", qualified=True)]] = Field(
        default_factory=list,
        description="What the workflow reads, as `kind/name` (datasets, features, models): a change to one re-runs it "
        "(see `retrain_on_change`).",
    )
    outputs: Annotated[
        list[
            Annotated[
                QualifiedRef,
                RefTo(("dataset", "feature", "model"), edge="output", direction="downstream", qualified=True),
            ]
        ],
        Field(min_length=1),
    ] = Field(
        description="What the workflow writes, as `kind/name` (datasets, features, models): at least one. A model "
        "output is retrained when the workflow re-runs."
    )
    command: Command = Field(
        description="The command run in the project root (a list, or one string split like a shell); may hold "
        "`${secret.NAME}`."
    )
    image: str | None = Field(
        default=None,
        description="The container image the command is meant for, declared; today's executors run the command as a "
        "process on the worker.",
    )
    schedule: str | None = Field(default=None, description="Cron expression; unset runs only on change.")
    retrain_on_change: Bool = Field(
        default=True, description="`apply` runs the workflow when one of its inputs changes."
    )
    timeout: Duration = Field(default="1h", description="How long one run may take before it fails.")


class Workflow(StrictModel):
    """A pipeline (training, feature backfill, ETL) with declared inputs and outputs."""

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Workflow"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: WorkflowSpec = Field(description="The workflow: what it reads and writes and the command that runs it.")
