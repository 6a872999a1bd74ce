"""What the monitor consumes from Kafka."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.commands import DeletePredictions
from mloop_common.messages.events import PredictionMade, ScenarioDeleted

from mloop_monitor import handlers
from mloop_monitor.context import Monitor

PREDICTIONS_GROUP = "mloop.monitor.predictions"
DELETE_GROUP = "mloop.monitor.delete-predictions"
SCENARIOS_GROUP = "mloop.monitor.scenarios"


def build_router(monitor: Monitor) -> KafkaRouter:
    router = KafkaRouter()

    @work_subscriber(router, topics.PREDICTION_MADE, group=PREDICTIONS_GROUP)
    async def on_prediction_made(event: PredictionMade) -> None:
        """Log a batch of online predictions: one statement, stored once however often sent."""
        await handlers.on_prediction_made(monitor, event, consumer=PREDICTIONS_GROUP)

    @work_subscriber(router, topics.DELETE_PREDICTIONS, group=DELETE_GROUP)
    async def on_delete_predictions(command: DeletePredictions) -> None:
        """Delete a scenario's predictions made before a moment."""
        await handlers.on_delete_predictions(monitor, command, consumer=DELETE_GROUP)

    @work_subscriber(router, topics.SCENARIO_DELETED, group=SCENARIOS_GROUP)
    async def on_scenario_deleted(event: ScenarioDeleted) -> None:
        """Delete a deleted scenario's predictions (the log has no foreign key to it)."""
        await handlers.on_scenario_deleted(monitor, event, consumer=SCENARIOS_GROUP)

    return router
