"""`/api/overview`: the platform at a glance, for the dashboard's home page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mloop_gateway.entrypoints.deps import Ctx, Viewer
from mloop_gateway.handlers import overview

router = APIRouter(prefix="/api/overview", tags=["overview"])


class Counts(BaseModel):
    scenarios: int
    model_configs: int
    deployed_models: int = Field(description="Champions plus challengers being served.")
    champions: int
    challengers: int


class ExperimentCounts(BaseModel):
    total: int
    planned: int = Field(description="Experiments without a run yet.")
    running: int = Field(description="Latest run queued or running.")
    completed: int
    failed: int


class RecentExperiment(BaseModel):
    id: uuid.UUID
    scenario_id: uuid.UUID
    scenario_name: str
    name: str
    version: str
    status: str
    runs: int
    created_at: datetime


class RecentRun(BaseModel):
    id: uuid.UUID
    scenario_id: uuid.UUID
    scenario_name: str
    experiment_id: uuid.UUID | None
    algorithm: str
    trigger: str
    status: str
    progress: float
    created_at: datetime
    finished_at: datetime | None


class Attention(BaseModel):
    kind: Literal["drift", "performance", "run_failed", "workflow_failed"]
    scenario_id: uuid.UUID
    scenario_name: str
    at: datetime | None
    id: uuid.UUID | None = Field(None, description="The failed run or workflow run.")
    model_id: uuid.UUID | None = Field(None, description="The drifting or degraded champion.")
    workflow_id: uuid.UUID | None = None
    detail: str | None = None


class OverviewPublic(BaseModel):
    counts: Counts
    experiments: ExperimentCounts
    runs: dict[str, int] = Field(description="Runs by status, and their `total`.")
    recent_experiments: list[RecentExperiment]
    recent_runs: list[RecentRun]
    attention: list[Attention] = Field(
        description="Drifting or degraded champions (active episodes), then runs and workflow "
        "runs failed in the last day, newest first."
    )


@router.get("", response_model=OverviewPublic)
async def get_overview(gw: Ctx, caller: Viewer) -> OverviewPublic:
    """Counts, the latest experiments and runs, and what needs a look: aggregates only."""
    found = await overview.overview(gw, caller)
    return OverviewPublic.model_validate(found, from_attributes=True)
