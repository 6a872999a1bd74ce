"""Labelled predictions: the prediction log joined with the feedback log (read by the monitor,
the scheduler and the gateway). Both logs are partitioned by the prediction's time, so the join
runs partition by partition; a time range prunes the partitions it does not touch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.feedback import Feedback
from mloop_common.db.serving import Prediction


@dataclass(frozen=True)
class Labelled:
    prediction_id: str
    model_id: uuid.UUID
    arm: str
    predicted_at: datetime
    output: Any
    actual: Any


async def labelled(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    model_id: uuid.UUID | None = None,
    arm: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
) -> list[Labelled]:
    """The scenario's predictions that got feedback, newest first (the `last` newest when set),
    optionally of one model or arm, made in [since, until)."""
    query = (
        select(
            Prediction.prediction_id,
            Prediction.model_id,
            Prediction.arm,
            Prediction.predicted_at,
            Prediction.output,
            Feedback.actual,
        )
        .join(
            Feedback,
            and_(
                Feedback.predicted_at == Prediction.predicted_at,
                Feedback.prediction_id == Prediction.prediction_id,
                Feedback.scenario_id == Prediction.scenario_id,
            ),
        )
        .where(Prediction.scenario_id == scenario_id)
        .order_by(Prediction.predicted_at.desc())
    )
    if model_id is not None:
        query = query.where(Prediction.model_id == model_id)
    if arm is not None:
        query = query.where(Prediction.arm == arm)
    if since is not None:
        query = query.where(Prediction.predicted_at >= since)
    if until is not None:
        query = query.where(Prediction.predicted_at < until)
    if last is not None:
        query = query.limit(last)
    return [Labelled(*row) for row in (await session.execute(query)).all()]
