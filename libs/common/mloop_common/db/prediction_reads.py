"""Read queries over the prediction log (the monitor writes it; the gateway shows it).

Rows are ordered newest first by (predicted_at, prediction_id, arm): a champion's row and the
shadow row sharing its id are two rows. Keyset pages start after the last row of the previous
page, so a page is one index range scan whatever the log's size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.serving import Prediction

PredictionPosition = tuple[datetime, str, str]
"""(predicted_at, prediction_id, arm) of the last row of a page."""


async def page_predictions(
    session: AsyncSession,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: PredictionPosition | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    model_id: uuid.UUID | None = None,
    arm: str | None = None,
) -> Sequence[Prediction]:
    """A page of the scenario's logged predictions, newest first; `since` inclusive, `until`
    exclusive."""
    query = (
        select(Prediction)
        .where(Prediction.scenario_id == scenario_id)
        .order_by(
            Prediction.predicted_at.desc(), Prediction.prediction_id.desc(), Prediction.arm.desc()
        )
        .limit(limit)
    )
    if after is not None:
        key = tuple_(Prediction.predicted_at, Prediction.prediction_id, Prediction.arm)
        query = query.where(key < tuple_(*after))
    if since is not None:
        query = query.where(Prediction.predicted_at >= since)
    if until is not None:
        query = query.where(Prediction.predicted_at < until)
    if model_id is not None:
        query = query.where(Prediction.model_id == model_id)
    if arm is not None:
        query = query.where(Prediction.arm == arm)
    return (await session.scalars(query)).all()


async def prediction_rows(
    session: AsyncSession, scenario_id: uuid.UUID, prediction_id: str, predicted_at: datetime
) -> Sequence[Prediction]:
    """The rows logged under one id: the answer (champion or challenger), then any shadow.

    `predicted_at` (the moment inside the id) confines the look-up to one daily partition."""
    query = (
        select(Prediction)
        .where(
            Prediction.predicted_at == predicted_at,
            Prediction.prediction_id == prediction_id,
            Prediction.scenario_id == scenario_id,
        )
        .order_by(case((Prediction.arm == "shadow", 1), else_=0), Prediction.arm)
    )
    return (await session.scalars(query)).all()
