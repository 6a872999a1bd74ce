"""Automatic deployment's tables, written by the scheduler: every decision its policy takes,
with the explanation, and the probation of each automatically promoted champion.

Read by the gateway (`GET /api/scenarios/{id}/deployments/decisions`) through `decisions_page`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, Uuid, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db import catalog  # noqa: F401  (the table its foreign keys name)
from mloop_common.db.models import Base
from mloop_common.db.paging import Position, newest_first

# Decisions.
PROMOTED = "promoted"
AB_TEST_STARTED = "ab_test_started"
KEPT_CHAMPION = "kept_champion"
LEFT_AS_CANDIDATE = "left_as_candidate"
ROLLED_BACK = "rolled_back"
PROBATION_PASSED = "probation_passed"
DECISIONS = (
    PROMOTED,
    AB_TEST_STARTED,
    KEPT_CHAMPION,
    LEFT_AS_CANDIDATE,
    ROLLED_BACK,
    PROBATION_PASSED,
)
# Probation states: watching, then passed, rolled_back, or ended (a person promoted or rolled
# back meanwhile, which ends the watch without a verdict).
WATCHING, PASSED, ENDED = "watching", "passed", "ended"


class DeploymentDecision(Base):
    """One decision of the deployment policy: on a trained model, an A/B test or a probation."""

    __tablename__ = "deployment_decisions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    policy: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_deployment_decisions_page", "scenario_id", "at", "id"),)


class Probation(Base):
    """The watch over a scenario's automatically promoted champion (one row per scenario: the
    latest probation)."""

    __tablename__ = "probations"

    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    previous_model_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    metric: Mapped[str] = mapped_column(String(64))
    baseline: Mapped[float | None] = mapped_column(Float)
    baseline_source: Mapped[str | None] = mapped_column(String(16))  # live | holdout
    required: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=WATCHING)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_probations_status", "status"),)


async def decisions_page(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None = None,
    decision: str | None = None,
    model_id: uuid.UUID | None = None,
) -> list[DeploymentDecision]:
    """A scenario's decisions, newest first (keyset paging on at, id)."""
    query = newest_first(
        select(DeploymentDecision).where(DeploymentDecision.scenario_id == scenario_id),
        DeploymentDecision.at,
        DeploymentDecision.id,
        after=after,
        limit=limit,
    )
    if decision is not None:
        query = query.where(DeploymentDecision.decision == decision)
    if model_id is not None:
        query = query.where(DeploymentDecision.model_id == model_id)
    return list((await session.scalars(query)).all())


async def probation(session: AsyncSession, scenario_id: uuid.UUID) -> Probation | None:
    return await session.get(Probation, scenario_id)
