"""Request and response shapes of model configs, resource profiles, experiments, runs, models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from mloop_common.messages.commands import Evaluation, Resources
from pydantic import BaseModel, Field, model_validator

from mloop_gateway.entrypoints.schemas import Column, Name, Public, Strict, Tag

Parameters = dict[str, Any]

# --- model configs ---


class ModelConfigCreate(Strict):
    name: Name
    algorithm: str = Field(min_length=1, max_length=64)
    parameters: Parameters = Field(default_factory=dict, max_length=100)


class ModelConfigPublic(Public):
    id: uuid.UUID
    scenario_id: uuid.UUID
    name: str
    version: int
    algorithm: str
    parameters: Parameters
    created_at: datetime


# --- resource profiles ---


class ResourceLimits(Resources):
    model_config = {"extra": "forbid", "frozen": True}


class ResourceProfileCreate(ResourceLimits):
    name: Name


class ResourceProfilePublic(Public):
    id: uuid.UUID
    name: str
    version: int
    cpu_cores: int
    memory_gb: float
    gpus: int
    gpu_memory_gb: float
    max_hours: float
    created_at: datetime


# --- experiments ---


class EvaluationIn(Strict):
    """How runs of the experiment are evaluated (the scenario's primary metric ranks them)."""

    holdout: float = Evaluation.model_fields["holdout"]
    cv_folds: int = Evaluation.model_fields["cv_folds"]
    seed: int = Evaluation.model_fields["seed"]


class InlineModel(Strict):
    algorithm: str = Field(min_length=1, max_length=64)
    parameters: Parameters = Field(default_factory=dict, max_length=100)


class ExperimentCreate(Strict):
    """By ids (`feature_set_id`, `model_config_id`) or inline (`dataset_id`, `target`,
    `features`, `model`), in which case the feature set and model config are saved first."""

    name: Name
    feature_set_id: uuid.UUID | None = None
    model_config_id: uuid.UUID | None = None
    resource_profile_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    target: Column | None = None
    features: list[Column] | None = Field(None, min_length=1, max_length=5000)
    model: InlineModel | None = None
    resources: ResourceLimits | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    evaluation: EvaluationIn = Field(default_factory=EvaluationIn)

    @model_validator(mode="after")
    def _one_way(self) -> ExperimentCreate:
        if self.feature_set_id is not None and self.dataset_id is not None:
            raise ValueError("give feature_set_id or dataset_id (with target, features), not both")
        if self.feature_set_id is None and self.dataset_id is None:
            raise ValueError("give feature_set_id, or dataset_id with target and features")
        if self.model_config_id is not None and self.model is not None:
            raise ValueError("give model_config_id or model, not both")
        if self.model_config_id is None and self.model is None:
            raise ValueError("give model_config_id, or model: {algorithm, parameters}")
        if self.resource_profile_id is not None and self.resources is not None:
            raise ValueError("give resource_profile_id or resources, not both")
        return self


class ExperimentPublic(Public):
    id: uuid.UUID
    scenario_id: uuid.UUID
    name: str
    version: str
    dataset_id: uuid.UUID
    feature_set_id: uuid.UUID
    model_config_id: uuid.UUID
    resource_profile_id: uuid.UUID | None
    algorithm: str
    tags: list[str]
    evaluation: dict[str, Any]
    status: Literal["planned", "running", "completed", "failed"]
    runs: int
    created_at: datetime


# --- runs ---


class TrainQuick(Strict):
    time_budget: float | None = Field(
        None, gt=0, le=7 * 24 * 3600, description="Seconds the search may take."
    )


class RunResources(BaseModel):
    peak_memory_mb: float | None
    cpu_seconds: float | None
    wall_seconds: float | None


class RunPublic(BaseModel):
    id: uuid.UUID
    scenario_id: uuid.UUID
    experiment_id: uuid.UUID | None
    status: Literal["queued", "running", "completed", "failed"]
    progress: float
    message: str
    metrics: dict[str, float]
    model_id: uuid.UUID | None
    error: str | None
    algorithm: str
    trigger: str
    attempts: int
    worker: str | None = Field(description="The trainer worker that ran it last (host:pid/slot).")
    resources: RunResources
    trials: list[dict[str, Any]]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class LogLine(BaseModel):
    id: int
    at: datetime
    line: str


# --- models ---


class Lineage(BaseModel):
    dataset_id: uuid.UUID
    feature_set_id: uuid.UUID | None
    model_config_id: uuid.UUID | None
    resource_profile_id: uuid.UUID | None
    experiment_id: uuid.UUID | None
    run_id: uuid.UUID


class ModelPublic(BaseModel):
    id: uuid.UUID
    scenario_id: uuid.UUID
    run_id: uuid.UUID
    experiment_id: uuid.UUID | None
    task_type: str
    algorithm: str
    parameters: Parameters
    metrics: dict[str, float]
    primary_metric: str
    primary_value: float | None
    feature_importances: dict[str, float] | None
    lineage: Lineage
    signature: dict[str, Any]
    library_versions: dict[str, str]
    sha256: str
    size: int
    created_at: datetime

    @classmethod
    def of(cls, model: Any) -> ModelPublic:
        return cls(
            **{name: getattr(model, name) for name in cls.model_fields if name != "lineage"},
            lineage=Lineage.model_validate(model, from_attributes=True),
        )


class ModelMetrics(BaseModel):
    model_id: uuid.UUID
    primary_metric: str
    metrics: dict[str, float]
    details: dict[str, Any]
    feature_importances: dict[str, float] | None


class Cleanup(Strict):
    keep: int = Field(ge=0, le=10_000, description="How many of the best models to keep.")


class CleanupResult(BaseModel):
    kept: list[uuid.UUID]
    deleted: list[uuid.UUID]
