"""Workflow runs and their step states (the scheduler writes them; the gateway reads them here).

A run is one execution of one stored workflow definition (`workflows`); its steps are copied
from the definition when the run starts (name, type, needs, config, attempts allowed), so a run
never changes when its definition gets a new version. A step that waits on other services keeps
the id of what it waits on in `command_id`: the TrainModel run id of a training step, the new
dataset version id of a preprocessing step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db import catalog, workflows  # noqa: F401  (the tables its foreign keys name)
from mloop_common.db.models import Base
from mloop_common.db.paging import Position, newest_first

# Run statuses
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
# Step statuses: PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED
PENDING = "pending"
SKIPPED = "skipped"


class WorkflowRun(Base):
    """One execution of a workflow definition."""

    __tablename__ = "workflow_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    trigger: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (Index("ix_workflow_runs_page", "scenario_id", "kind", "started_at", "id"),)


class WorkflowStep(Base):
    """The state of one step of one run."""

    __tablename__ = "workflow_steps"

    workflow_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # topological order in the definition
    type: Mapped[str] = mapped_column(String(32))
    needs: Mapped[list[str]] = mapped_column(JSONB, default=list)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    max_attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    output: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    command_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (
        Index("ix_workflow_steps_command", "command_id"),
        Index(
            "ix_workflow_steps_retry",
            "retry_at",
            postgresql_where=text("status = 'pending' AND retry_at IS NOT NULL"),
        ),
    )


# --- reads (the gateway's) -------------------------------------------------------------------


@dataclass(frozen=True)
class RunDetail:
    run: WorkflowRun
    steps: list[WorkflowStep]


async def run_detail(
    session: AsyncSession, scenario_id: uuid.UUID, run_id: uuid.UUID
) -> RunDetail | None:
    """The run with its steps in definition order; None when it is not the scenario's (or not
    stored yet: the scheduler stores a run when it handles the RunWorkflow command)."""
    run = await session.get(WorkflowRun, run_id)
    if run is None or run.scenario_id != scenario_id:
        return None
    steps = await session.scalars(
        select(WorkflowStep)
        .where(WorkflowStep.workflow_run_id == run_id)
        .order_by(WorkflowStep.position)
    )
    return RunDetail(run=run, steps=list(steps))


async def page_runs(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    kind: str | None,
    limit: int,
    after: Position | None,
    status: str | None = None,
) -> list[WorkflowRun]:
    """A scenario's runs, newest first (by started_at, id)."""
    query = select(WorkflowRun).where(WorkflowRun.scenario_id == scenario_id)
    if kind is not None:
        query = query.where(WorkflowRun.kind == kind)
    if status is not None:
        query = query.where(WorkflowRun.status == status)
    query = newest_first(query, WorkflowRun.started_at, WorkflowRun.id, after=after, limit=limit)
    return list(await session.scalars(query))
