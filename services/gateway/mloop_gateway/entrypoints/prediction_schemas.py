"""Request and response shapes of the prediction history and batch prediction routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from mloop_gateway.entrypoints.schemas import Strict

Arm = Literal["champion", "challenger", "shadow"]
BatchStatus = Literal["queued", "running", "succeeded", "failed"]
MAX_AGE_DAYS = 36_500


# --- prediction history ---


class PredictionPublic(BaseModel):
    prediction_id: str
    scenario_id: uuid.UUID
    predicted_at: datetime
    model_id: uuid.UUID
    arm: Arm
    inputs: dict[str, Any] = Field(
        description="The record the model scored: as received, or as the predict workflow made it."
    )
    output: Any = Field(description="What was answered (or, for a shadow, scored).")
    latency_ms: float


class ShadowPublic(BaseModel):
    model_id: uuid.UUID
    output: Any
    latency_ms: float


class PredictionDetail(PredictionPublic):
    shadow: ShadowPublic | None = Field(
        description="The challenger's output for the same record, in shadow mode."
    )


class PredictionCleanup(Strict):
    older_than_days: float | None = Field(
        None, gt=0, le=MAX_AGE_DAYS, description="Delete predictions older than this many days."
    )
    older_than: datetime | None = Field(
        None, description="Delete predictions made before this moment (ISO 8601)."
    )

    @model_validator(mode="after")
    def _one_bound(self) -> PredictionCleanup:
        if (self.older_than_days is None) == (self.older_than is None):
            raise ValueError("give exactly one of older_than_days and older_than")
        return self


class CleanupAccepted(BaseModel):
    older_than: datetime = Field(description="Predictions made before this are being deleted.")


# --- batch prediction ---


class BatchCreate(Strict):
    dataset_id: uuid.UUID = Field(description="Dataset version to score.")
    model_id: uuid.UUID | None = Field(
        None, description="Model to score with; default: the champion when the job starts."
    )


class BatchPublic(BaseModel):
    job_id: uuid.UUID
    scenario_id: uuid.UUID
    status: BatchStatus
    input: Literal["dataset", "upload"]
    dataset_id: uuid.UUID | None
    model_id: uuid.UUID | None = Field(
        description="The model asked for, or the one that scored (the champion when it started)."
    )
    progress: float
    rows_done: int
    attempts: int
    error: str | None
    output_url: str | None = Field(description="Where the output CSV downloads, once succeeded.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
