"""The feedback log, written by the monitor.

Range-partitioned by `predicted_at` like `predictions` (a partition a day, made by the monitor as
needed, dropped whole by retention). `predicted_at` is the time inside the signed prediction id,
so feedback lands in the partition of its prediction without looking the prediction up, and the
join of the two logs is partition by partition. One row per (scenario, prediction): the last
feedback received wins (by `received_at`: the Kafka record's time for the feedback topic, the
`FeedbackReceived` event's time for the REST API).

Also the reads the feedback path needs: scenarios' task types (the monitor checks an actual's
type against its task) and stored feedback by prediction id.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, PrimaryKeyConstraint, String, Uuid, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db.catalog import Scenario
from mloop_common.db.models import Base


class Feedback(Base):
    __tablename__ = "feedback"

    predicted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scenario_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    prediction_id: Mapped[str] = mapped_column(String(64))
    actual: Mapped[Any] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16))  # api or topic

    __table_args__ = (
        PrimaryKeyConstraint("predicted_at", "scenario_id", "prediction_id"),
        Index("ix_feedback_received", "received_at"),
        {"postgresql_partition_by": "RANGE (predicted_at)"},
    )


async def task_types(
    session: AsyncSession, scenario_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The task type of each scenario that exists among `scenario_ids` (one query; the
    monitor caches them, a scenario's task never changes)."""
    if not scenario_ids:
        return {}
    rows = await session.execute(
        select(Scenario.id, Scenario.task_type).where(Scenario.id.in_(list(scenario_ids)))
    )
    return {scenario_id: task_type for scenario_id, task_type in rows.all()}


async def feedback_of(
    session: AsyncSession, scenario_id: uuid.UUID, prediction_ids: Collection[str]
) -> dict[str, Feedback]:
    """The stored feedback on some predictions of a scenario, by prediction id."""
    if not prediction_ids:
        return {}
    rows = await session.scalars(
        select(Feedback).where(
            Feedback.scenario_id == scenario_id,
            Feedback.prediction_id.in_(list(prediction_ids)),
        )
    )
    return {row.prediction_id: row for row in rows}
