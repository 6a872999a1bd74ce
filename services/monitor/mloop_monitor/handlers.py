"""Use cases of the monitor: log predictions, delete old ones, forget a deleted scenario.

(Issue 6 adds feedback, drift and live metrics beside these, and retention by dropping whole
daily partitions.)
"""

from __future__ import annotations

import logging

from mloop_common.delivery import PermanentError
from mloop_common.messages.commands import DeletePredictions
from mloop_common.messages.events import PredictionMade, ScenarioDeleted

from mloop_monitor.adapters import prediction_log
from mloop_monitor.context import Monitor
from mloop_monitor.domain.prediction_log import refusal_message, rows_of

log = logging.getLogger(__name__)


async def on_prediction_made(monitor: Monitor, event: PredictionMade, *, consumer: str) -> None:
    """Store every record of the message, or none: a record whose id does not verify parks the
    whole message on the dead-letter topic, from where it can be replayed once the cause (a
    secret that differs between services) is fixed; it was recorded as processed nowhere."""
    if event.scenario_id is None:
        raise PermanentError("PredictionMade without a scenario_id")
    rows, refused = rows_of(monitor.ids, event.scenario_id, event.predictions)
    if refused:
        raise PermanentError(refusal_message(event.scenario_id, len(event.predictions), refused))
    stored = await prediction_log.store(
        monitor.db,
        monitor.partitions,
        scenario_id=event.scenario_id,
        rows=rows,
        consumer=consumer,
        event_id=event.event_id,
    )
    if stored is not None and stored < len(rows):
        log.info("%d of %d predictions were logged already", len(rows) - stored, len(rows))


async def on_delete_predictions(
    monitor: Monitor, command: DeletePredictions, *, consumer: str
) -> None:
    if command.scenario_id is None:
        raise PermanentError("DeletePredictions without a scenario_id")
    deleted = await prediction_log.delete_before(
        monitor.db,
        scenario_id=command.scenario_id,
        before=command.older_than,
        consumer=consumer,
        event_id=command.event_id,
    )
    if deleted:
        log.info(
            "deleted %d predictions of scenario %s made before %s",
            deleted,
            command.scenario_id,
            command.older_than.isoformat(),
        )


async def on_scenario_deleted(monitor: Monitor, event: ScenarioDeleted, *, consumer: str) -> None:
    if event.scenario_id is None:
        raise PermanentError("ScenarioDeleted without a scenario_id")
    await prediction_log.delete_before(
        monitor.db,
        scenario_id=event.scenario_id,
        before=None,
        consumer=consumer,
        event_id=event.event_id,
    )
