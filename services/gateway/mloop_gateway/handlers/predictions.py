"""The prediction log (the monitor writes it): pages of it, one prediction, and cleanup."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from mloop_common import outbox
from mloop_common.db.prediction_reads import (
    PredictionPosition,
    page_predictions,
    prediction_rows,
)
from mloop_common.db.serving import Prediction
from mloop_common.keyring import Grant
from mloop_common.messages.commands import DeletePredictions
from mloop_common.prediction_ids import PredictionIds
from mloop_common.problems import not_found

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import audit, scenarios


def aware(moment: datetime | None) -> datetime | None:
    """A time given without a zone is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


async def page(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    limit: int,
    after: PredictionPosition | None,
    since: datetime | None,
    until: datetime | None,
    model_id: uuid.UUID | None,
    arm: str | None,
) -> Sequence[Prediction]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await page_predictions(
            session,
            scenario_id,
            limit=limit,
            after=after,
            since=aware(since),
            until=aware(until),
            model_id=model_id,
            arm=arm,
        )


async def get(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, prediction_id: str
) -> Sequence[Prediction]:
    """The rows logged under the id (the answer first, then any shadow). An id this deployment
    did not issue for the scenario is refused before any database look-up."""
    if not grant.sees(scenario_id):
        raise not_found("scenario", scenario_id)
    predicted_at = PredictionIds(gw.settings.prediction_secret).verify(scenario_id, prediction_id)
    if predicted_at is None:
        raise not_found("prediction", prediction_id)
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        rows = await prediction_rows(session, scenario_id, prediction_id, predicted_at)
    if not rows:
        raise not_found("prediction", prediction_id)
    return rows


async def cleanup(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    older_than: datetime | None,
    older_than_days: float | None,
) -> datetime:
    """Ask the monitor to delete the scenario's predictions made before a moment; answers it."""
    before = aware(older_than) or datetime.now(UTC) - timedelta(days=older_than_days or 0)
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        outbox.stage(
            session,
            service=SERVICE,
            message=DeletePredictions(
                scenario_id=scenario_id, older_than=before, requested_by=grant.key_id
            ),
        )
        audit.record(
            session,
            grant,
            action="predictions.cleanup",
            resource="predictions",
            resource_id=scenario_id,
            scenario_id=scenario_id,
            detail={"older_than": before.isoformat()},
        )
        await session.commit()
    gw.runtime.relay.notify()
    return before
