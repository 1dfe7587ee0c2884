"""Model kinds: trained models and the evaluations that gate them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from modelplane.specs.base import (
    API_VERSION_DOC,
    KIND_DOC,
    METADATA_DOC,
    ApiVersion,
    Bool,
    Metadata,
    StrictModel,
    shared,
)
from modelplane.specs.common import Command, DatasetName, Duration, FeatureName, ModelName, NonEmptyText, WorkflowName
from modelplane.specs.refs import RefTo

Dtype = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]

BYTES_PER_PARAM: dict[str, float] = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


def weight_gib(parameters_b: float, dtype: str) -> float:
    """Memory a model's weights take at ``dtype``, in GiB."""
    return parameters_b * 1e9 * BYTES_PER_PARAM[dtype] / 2**30


class TrainedOn(StrictModel):
    datasets: list[Annotated[DatasetName, RefTo(("dataset",), edge="trained_on")]] = Field(
        default_factory=list,
        description="Datasets the model was trained on (names): new data there makes it retrain-required.",
    )
    features: list[Annotated[FeatureName, RefTo(("feature",), edge="trained_on")]] = Field(
        default_factory=list, description="Feature tables the model was trained on (names)."
    )
    workflow: Annotated[WorkflowName, RefTo(("workflow",), edge="produces")] | None = Field(
        default=None, description="The workflow that produces the model (its name): re-running it retrains the model."
    )


class ModelSpec(StrictModel):
    version: NonEmptyText = Field(
        description="The model's version; a new one re-runs its evaluations and rolls out the endpoints that serve it."
    )
    artifact: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Where the weights are: hf://org/repo@rev, s3://..., gs://..., file://..."
    )
    base_model: str | None = Field(
        default=None, description="The model this one was fine-tuned from, for people (free text)."
    )
    parameters_b: Annotated[float, Field(gt=0, description="Parameters, in billions.")]
    dtype: Dtype = Field(
        default="bf16",
        description="The weights' data type; with `parameters_b` it sizes the weights for the GPU-fit check.",
    )
    trained_on: TrainedOn = Field(
        default_factory=shared(TrainedOn),
        description="What the model was trained on and which workflow produces it: lineage edges `trained_on` and `produces`.",
    )
    context_length: Annotated[int, Field(gt=0)] = Field(
        default=4096, description="The longest context the model takes, in tokens; shrinking it is a breaking change."
    )


class Model(StrictModel):
    """A versioned model artifact and what it was trained on."""

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Model"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: ModelSpec = Field(description="The model: its version, artifact, size and what it was trained on.")


class Metric(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="The metric's key in the JSON object the evaluation writes to `$MODELPLANE_METRICS_FILE`."
    )
    min: float | None = Field(
        default=None,
        description="The lowest passing value (inclusive); unset: no lower bound. A metric needs `min`, `max` or both.",
    )
    max: float | None = Field(default=None, description="The highest passing value (inclusive); unset: no upper bound.")

    @model_validator(mode="after")
    def _has_threshold(self) -> Metric:
        if self.min is None and self.max is None:
            raise ValueError("a metric needs a threshold: set `min`, `max` or both")
        return self


class EvaluationSpec(StrictModel):
    model: Annotated[ModelName, RefTo(("model",), edge="evaluates")] = Field(
        description="The model evaluated (its name): lineage edge `evaluates`; a new version re-runs the evaluation."
    )
    dataset: Annotated[DatasetName, RefTo(("dataset",), edge="evaluates_on")] = Field(
        description="The dataset evaluated on (its name): lineage edge `evaluates_on`; new data re-runs the evaluation."
    )
    metrics: Annotated[list[Metric], Field(min_length=1)] = Field(
        description="The metrics the run must meet, each with a threshold: at least one."
    )
    command: Command = Field(description="Runs the evaluation; it writes metrics JSON to $MODELPLANE_METRICS_FILE.")
    blocking: Bool = Field(default=True, description="A failing blocking evaluation stops every rollout of the model.")
    timeout: Duration = Field(default="30m", description="How long one run may take before it fails.")


class Evaluation(StrictModel):
    """Metrics with thresholds that a model version must meet."""

    apiVersion: ApiVersion = Field(description=API_VERSION_DOC)
    kind: Literal["Evaluation"] = Field(description=KIND_DOC)
    metadata: Metadata = Field(description=METADATA_DOC)
    spec: EvaluationSpec = Field(
        description="The evaluation: the model and dataset, the command that runs it and the metrics it must meet."
    )
