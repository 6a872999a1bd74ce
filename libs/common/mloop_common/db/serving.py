"""Tables of serving.

The scheduler writes the deployment state (who answers each scenario, with its history) and the
A/B tests. The gateway writes batch requests as users make them; the predictor writes the batch
jobs it executes (a leased work queue). The monitor writes the prediction log.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db import catalog  # noqa: F401  (the tables its foreign keys name)
from mloop_common.db.models import Base
from mloop_common.leases import LeasedWork

# --- written by the scheduler ---


class Deployment(Base):
    """The current deployment of a scenario: champion, challenger and how traffic is split.

    `version` grows with every change; events carry it so replicas apply only newer states."""

    __tablename__ = "deployments"

    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    champion_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    challenger_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    mode: Mapped[str] = mapped_column(String(16), default="single")
    ab_test_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    challenger_share: Mapped[float] = mapped_column(Float, default=0.0)
    sticky_column: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeploymentChange(Base):
    """One alias change: which model, from which, who, when and why."""

    __tablename__ = "deployment_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    alias: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    previous_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("scenario_id", "version", "alias"),)


class ABTest(Base):
    """An A/B or shadow test between a scenario's champion and a challenger."""

    __tablename__ = "ab_tests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(16))
    champion_model_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    challenger_model_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    challenger_share: Mapped[float] = mapped_column(Float)
    sticky_column: Mapped[str | None] = mapped_column(String(256))
    primary_metric: Mapped[str | None] = mapped_column(String(64))
    min_samples: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="running")
    winner_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- written by the gateway ---


class BatchRequest(Base):
    """A batch prediction as requested through the API; the predictor's job row follows."""

    __tablename__ = "batch_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    input_key: Mapped[str | None] = mapped_column(String(1024))
    model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (Index("ix_batch_requests_page", "scenario_id", "requested_at", "id"),)


# --- written by the predictor ---


class BatchJob(LeasedWork, Base):
    """A batch prediction as executed: queued, then claimed by a predictor under a lease."""

    __tablename__ = "batch_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    input_key: Mapped[str | None] = mapped_column(String(1024))
    encoding: Mapped[str] = mapped_column(String(32), default="utf-8")
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    output_key: Mapped[str | None] = mapped_column(String(1024))
    output_sha256: Mapped[str | None] = mapped_column(String(64))
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- written by the monitor ---


class Prediction(Base):
    """One logged online prediction. Range-partitioned by `predicted_at` (a partition a day, made
    by the monitor as needed), so old predictions go by dropping partitions.

    `predicted_at` is the time inside the prediction id, so a look-up by id knows its partition.
    A shadow prediction shares the champion's id (feedback on it scores both) with arm `shadow`.
    No foreign key: the monitor removes a deleted scenario's rows itself."""

    __tablename__ = "predictions"

    scenario_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    prediction_id: Mapped[str] = mapped_column(String(64))
    predicted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    arm: Mapped[str] = mapped_column(String(16))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    output: Mapped[Any] = mapped_column(JSONB)
    latency_ms: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        PrimaryKeyConstraint("predicted_at", "prediction_id", "arm"),
        Index("ix_predictions_page", "scenario_id", "predicted_at", "prediction_id"),
        {"postgresql_partition_by": "RANGE (predicted_at)"},
    )
