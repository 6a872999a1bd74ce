"""Request and response shapes of the REST API (Create / Update / Public per resource)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from mloop_common.monitoring import DeploymentPolicy, MonitoringConfig
from mloop_common.tasks import TASK_TYPES
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TaskType = Literal[TASK_TYPES]  # type: ignore[valid-type]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Column = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


# --- keys ---


class KeyCreate(Strict):
    name: Name
    role: Literal["admin", "editor", "viewer", "predictor"]
    scenarios: list[uuid.UUID] | None = Field(
        None, max_length=1000, description="Limit the key to these scenarios; null for all."
    )


class KeyPublic(Public):
    id: uuid.UUID
    name: str
    role: str
    scenarios: list[uuid.UUID] | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret; shown once, never stored.")


# --- audit ---


class AuditPublic(Public):
    id: int
    at: datetime
    key_id: uuid.UUID | None
    key_name: str
    action: str
    resource: str
    resource_id: str
    scenario_id: uuid.UUID | None
    detail: dict[str, Any]


# --- scenarios ---


class ScenarioCreate(Strict):
    name: Name
    task_type: TaskType
    description: str = Field("", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    deployment_policy: DeploymentPolicy = Field(
        "auto",
        description="What a newly trained model becomes: auto (promoted when better), ab_test "
        "(tested against the champion) or manual (left as a candidate).",
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig,
        description="Windows, thresholds and drift methods of this scenario; unset: the settings.",
    )


class ScenarioUpdate(Strict):
    name: Name | None = None
    description: str | None = Field(None, max_length=10_000)
    tags: list[Tag] | None = Field(None, max_length=50)
    default_data_path: str | None = Field(None, max_length=512)
    default_target: Column | None = None
    primary_metric: str | None = Field(
        None, max_length=64, description="Metric that decides the best model (GET /api/algorithms)."
    )
    deployment_policy: DeploymentPolicy | None = None
    monitoring: MonitoringConfig | None = Field(
        None, description="Replaces the scenario's monitoring overrides whole."
    )


class ScenarioPublic(Public):
    id: uuid.UUID
    name: str
    task_type: str
    description: str
    tags: list[str]
    default_data_path: str | None
    default_target: str | None
    primary_metric: str | None
    deployment_policy: str
    monitoring: dict[str, Any]
    created_at: datetime
    updated_at: datetime


# --- data ---


class ColumnPublic(BaseModel):
    name: str
    type: Literal["numeric", "categorical", "text", "datetime", "boolean"]
    missing_share: float
    distinct: int
    distinct_approximate: bool


class DatasetPublic(Public):
    id: uuid.UUID
    scenario_id: uuid.UUID
    path: str
    version: int
    rows: int
    size: int
    sha256: str
    encoding: str
    delimiter: str
    columns: list[ColumnPublic]
    profile_status: Literal["pending", "ready", "failed"]
    created_at: datetime


class DataFile(BaseModel):
    path: str
    versions: int
    latest: DatasetPublic


class DatasetColumns(BaseModel):
    dataset_id: uuid.UUID
    columns: list[ColumnPublic]


class Preview(BaseModel):
    dataset_id: uuid.UUID
    columns: list[str]
    rows: list[list[str | None]]


class Profile(BaseModel):
    dataset_id: uuid.UUID
    status: Literal["pending", "ready", "failed"]
    error: str | None
    profile: dict[str, Any] | None


# --- feature sets ---


class FeatureSetCreate(Strict):
    name: Name
    dataset_id: uuid.UUID
    target: Column | None = None
    features: list[Column] = Field(min_length=1, max_length=5000)


class FeatureSetPublic(Public):
    id: uuid.UUID
    scenario_id: uuid.UUID
    name: str
    version: int
    dataset_id: uuid.UUID
    target: str | None
    features: list[str]
    created_at: datetime
