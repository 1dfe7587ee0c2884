"""Data kinds: datasets, features and the workflows that produce them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from modelplane.specs.base import ApiVersion, Bool, Metadata, StrictModel
from modelplane.specs.common import QUALIFIED_REF_PATTERN, Columns, Command, DatasetName, Duration, Text
from modelplane.specs.refs import RefTo


class DatasetSchema(StrictModel):
    columns: Columns


class DatasetSpec(StrictModel):
    uri: Annotated[str, StringConstraints(min_length=1)]
    format: Literal["parquet", "delta", "iceberg", "csv", "json", "jsonl", "avro", "tfrecord", "table"]
    schema_: DatasetSchema = Field(alias="schema")
    version: Text = "1"
    derived_from: list[Annotated[DatasetName, RefTo(("dataset",), edge="derives")]] = Field(default_factory=list)
    freshness: Duration | None = None


class Dataset(StrictModel):
    """A table or file set with a typed schema; the root of lineage."""

    apiVersion: ApiVersion
    kind: Literal["Dataset"]
    metadata: Metadata
    spec: DatasetSpec


class FeatureInput(StrictModel):
    dataset: Annotated[DatasetName, RefTo(("dataset",), edge="reads")]
    columns: Annotated[list[str], Field(min_length=1)]


class FeatureSpec(StrictModel):
    inputs: Annotated[list[FeatureInput], Field(min_length=1)]
    entity: Annotated[str, StringConstraints(min_length=1)]
    columns: Columns
    freshness: Duration | None = None


class Feature(StrictModel):
    """Columns computed from datasets for an entity (a feature table)."""

    apiVersion: ApiVersion
    kind: Literal["Feature"]
    metadata: Metadata
    spec: FeatureSpec


QualifiedRef = Annotated[str, StringConstraints(pattern=QUALIFIED_REF_PATTERN)]


class WorkflowSpec(StrictModel):
    inputs: list[Annotated[QualifiedRef, RefTo(("dataset", "feature", "model"), edge="input", qualified=True)]] = Field(
        default_factory=list
    )
    outputs: Annotated[
        list[
            Annotated[
                QualifiedRef,
                RefTo(("dataset", "feature", "model"), edge="output", direction="downstream", qualified=True),
            ]
        ],
        Field(min_length=1),
    ]
    command: Command
    image: str | None = None
    schedule: str | None = Field(default=None, description="Cron expression; unset runs only on change.")
    retrain_on_change: Bool = Field(
        default=True, description="`apply` runs the workflow when one of its inputs changes."
    )
    timeout: Duration = "1h"


class Workflow(StrictModel):
    """A pipeline (training, feature backfill, ETL) with declared inputs and outputs."""

    apiVersion: ApiVersion
    kind: Literal["Workflow"]
    metadata: Metadata
    spec: WorkflowSpec
