"""Model kinds: trained models and the evaluations that gate them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from modelplane.specs.base import ApiVersion, Bool, Metadata, StrictModel
from modelplane.specs.common import Command, DatasetName, Duration, FeatureName, ModelName, NonEmptyText, WorkflowName
from modelplane.specs.refs import RefTo

Dtype = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]

BYTES_PER_PARAM: dict[str, float] = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


def weight_gib(parameters_b: float, dtype: str) -> float:
    """Memory a model's weights take at ``dtype``, in GiB."""
    return parameters_b * 1e9 * BYTES_PER_PARAM[dtype] / 2**30


class TrainedOn(StrictModel):
    datasets: list[Annotated[DatasetName, RefTo(("dataset",), edge="trained_on")]] = Field(default_factory=list)
    features: list[Annotated[FeatureName, RefTo(("feature",), edge="trained_on")]] = Field(default_factory=list)
    workflow: Annotated[WorkflowName, RefTo(("workflow",), edge="produces")] | None = None


class ModelSpec(StrictModel):
    version: NonEmptyText
    artifact: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Where the weights are: hf://org/repo@rev, s3://..., gs://..., file://..."
    )
    base_model: str | None = None
    parameters_b: Annotated[float, Field(gt=0, description="Parameters, in billions.")]
    dtype: Dtype = "bf16"
    trained_on: TrainedOn = Field(default_factory=TrainedOn)
    context_length: Annotated[int, Field(gt=0)] = 4096


class Model(StrictModel):
    """A versioned model artifact and what it was trained on."""

    apiVersion: ApiVersion
    kind: Literal["Model"]
    metadata: Metadata
    spec: ModelSpec


class Metric(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1)]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_threshold(self) -> Metric:
        if self.min is None and self.max is None:
            raise ValueError("a metric needs a threshold: set `min`, `max` or both")
        return self


class EvaluationSpec(StrictModel):
    model: Annotated[ModelName, RefTo(("model",), edge="evaluates")]
    dataset: Annotated[DatasetName, RefTo(("dataset",), edge="evaluates_on")]
    metrics: Annotated[list[Metric], Field(min_length=1)]
    command: Command = Field(description="Runs the evaluation; it writes metrics JSON to $MODELPLANE_METRICS_FILE.")
    blocking: Bool = Field(default=True, description="A failing blocking evaluation stops every rollout of the model.")
    timeout: Duration = "30m"


class Evaluation(StrictModel):
    """Metrics with thresholds that a model version must meet."""

    apiVersion: ApiVersion
    kind: Literal["Evaluation"]
    metadata: Metadata
    spec: EvaluationSpec
