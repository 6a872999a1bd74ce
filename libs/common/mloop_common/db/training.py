"""Tables of training.

The gateway writes what users configure: model configs, resource profiles, experiments and the
runs they requested. The trainer writes what happened: runs as executed (a leased work queue),
their logs, and the model versions they produced. Each side reads the other's tables only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db import catalog  # noqa: F401  (the tables its foreign keys name)
from mloop_common.db.models import Base
from mloop_common.leases import LeasedWork

# --- written by the gateway ---


class ModelConfig(Base):
    """One version of a named algorithm + hyperparameters of a scenario."""

    __tablename__ = "model_configs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("scenario_id", "name", "version"),)


class ResourceProfile(Base):
    """One version of a named, reusable set of run limits (shared by every scenario)."""

    __tablename__ = "resource_profiles"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    cpu_cores: Mapped[int] = mapped_column(Integer)
    memory_gb: Mapped[float] = mapped_column(Float)
    gpus: Mapped[int] = mapped_column(Integer)
    gpu_memory_gb: Mapped[float] = mapped_column(Float)
    max_hours: Mapped[float] = mapped_column(Float)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("name", "version"),)


class Experiment(Base):
    """One semantic version of a named experiment: data, features, model and resources."""

    __tablename__ = "experiments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(32))
    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    feature_set_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_sets.id", ondelete="CASCADE"), index=True
    )
    model_config_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_configs.id"))
    resource_profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("resource_profiles.id")
    )
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("scenario_id", "name", "version"),
        Index("ix_experiments_page", "scenario_id", "created_at", "id"),
    )


class RunRequest(Base):
    """A run as requested through the API; the trainer's `Run` row follows from TrainModel."""

    __tablename__ = "run_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    algorithm: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


# --- written by the trainer ---

COMPLETED = "completed"


class Run(LeasedWork, Base):
    """A run as executed: queued, then claimed by a trainer worker under a lease."""

    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    algorithm: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict)
    trials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(160))
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_runs_page", "scenario_id", "created_at", "id"),)


class RunLog(Base):
    """One line of a run's log."""

    __tablename__ = "run_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    line: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_run_logs_run", "run_id", "id"),)


class ModelVersion(Base):
    """A trained model: its artifact, what it was trained from, and how well it did."""

    __tablename__ = "models"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    feature_set_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    model_config_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    resource_profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    task_type: Mapped[str] = mapped_column(String(32))
    algorithm: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    metrics: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    primary_metric: Mapped[str] = mapped_column(String(64))
    primary_value: Mapped[float | None] = mapped_column(Float)
    higher_is_better: Mapped[bool] = mapped_column(Boolean)
    feature_importances: Mapped[dict[str, float] | None] = mapped_column(JSONB)
    signature: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Loaded only when asked for (`undefer`): large, and only drift checks and predictors use them.
    reference: Mapped[dict[str, Any]] = mapped_column(JSONB, deferred=True)
    sample: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, deferred=True)
    library_versions: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    artifact_key: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_models_page", "scenario_id", "created_at", "id"),)
