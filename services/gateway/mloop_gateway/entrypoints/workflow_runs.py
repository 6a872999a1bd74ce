"""`/api/scenarios/{id}/workflows/{kind}/runs` and `/api/scenarios/{id}/workflow-runs/{run_id}`:
start a run of the scenario's train or predict workflow (its newest version), list the runs,
read one with the state of each step. The scheduler runs them; starting answers 202 with the
run's id, which GET finds once the scheduler has taken the run on (404 until then: poll)."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.schemas import Page
from mloop_gateway.handlers import workflow_runs

router = APIRouter(prefix="/api/scenarios/{scenario_id}", tags=["workflow runs"])

Kind = Literal["train", "predict"]
RunStatus = Literal["running", "succeeded", "failed"]


class WorkflowRunAccepted(BaseModel):
    id: uuid.UUID = Field(description="The run; GET .../workflow-runs/{id} follows it.")
    scenario_id: uuid.UUID
    workflow_id: uuid.UUID = Field(description="The workflow definition (version) it runs.")
    workflow_version: int
    kind: Kind
    status: Literal["queued"] = Field(
        description="queued: sent to the scheduler, which stores the run when it takes it on."
    )
    command_id: uuid.UUID = Field(description="event_id of the RunWorkflow command sent.")


class WorkflowStepPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    type: str
    needs: list[str]
    status: str = Field(description="pending, running, succeeded, failed or skipped.")
    attempts: int = Field(description="Attempts started so far.")
    max_attempts: int = Field(description="Attempts it may use (its retries plus one).")
    retry_at: datetime | None = Field(description="When a failed attempt is tried again.")
    error: str | None = Field(description="Why the last attempt failed, or why it was skipped.")
    output: dict[str, Any] = Field(
        description="What it produced: dataset_id, run_id, model_id, metrics, gate results..."
    )
    started_at: datetime | None
    finished_at: datetime | None


class WorkflowRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scenario_id: uuid.UUID
    workflow_id: uuid.UUID
    kind: str
    status: RunStatus
    trigger: str = Field(description="manual, schedule, drift, performance, ...")
    reason: str
    requested_by: str | None = Field(description="API key id of who started it (null: system).")
    context: dict[str, Any] = Field(description="What the run was started with.")
    started_at: datetime
    finished_at: datetime | None


class WorkflowRunDetail(WorkflowRunPublic):
    steps: list[WorkflowStepPublic] = Field(description="In the definition's order.")


@router.post(
    "/workflows/{kind}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WorkflowRunAccepted,
)
async def start_workflow_run(
    scenario_id: uuid.UUID, kind: Kind, gw: Ctx, caller: Editor
) -> WorkflowRunAccepted:
    """Run the newest version of the scenario's `kind` workflow (404 when it has none). The
    scheduler stores the run when it takes the command on; until then GET answers 404."""
    return WorkflowRunAccepted(**await workflow_runs.start(gw, caller, scenario_id, kind))


@router.get("/workflows/{kind}/runs", response_model=Page[WorkflowRunPublic])
async def list_workflow_runs(
    scenario_id: uuid.UUID,
    kind: Kind,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
    status: RunStatus | None = None,
) -> Page[WorkflowRunPublic]:
    """The runs of the scenario's `kind` workflow, newest first."""
    rows = await workflow_runs.page(
        gw, caller, scenario_id, kind=kind, limit=limit, after=after, status=status
    )
    return page_of(
        rows,
        limit,
        WorkflowRunPublic.model_validate,
        row=lambda run: SimpleNamespace(created_at=run.started_at, id=run.id),
    )


@router.get("/workflow-runs/{run_id}", response_model=WorkflowRunDetail)
async def get_workflow_run(
    scenario_id: uuid.UUID, run_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> WorkflowRunDetail:
    """The run and each step's state, attempts, error and output."""
    found = await workflow_runs.detail(gw, caller, scenario_id, run_id)
    public = WorkflowRunPublic.model_validate(found.run).model_dump()
    steps = [WorkflowStepPublic.model_validate(step) for step in found.steps]
    return WorkflowRunDetail(**public, steps=steps)
