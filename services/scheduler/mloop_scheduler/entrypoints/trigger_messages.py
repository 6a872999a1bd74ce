"""What the scheduler consumes from Kafka for its retraining triggers.

One work group reads the three topics whose events fire triggers (a consumer-group join is slow
on the local broker, so one group rather than three); the event's `type` picks its handler.
"""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from mloop_common.messages.events import DatasetUploaded, DriftDetected, PerformanceDegraded
from pydantic import Field

from mloop_scheduler import trigger_handlers
from mloop_scheduler.context import Scheduler

TRIGGERS_GROUP = "mloop.scheduler.triggers"

TriggerEvent = Annotated[
    DriftDetected | DatasetUploaded | PerformanceDegraded, Field(discriminator="type")
]


def build_router(scheduler: Scheduler) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        DriftDetected.topic,
        DatasetUploaded.topic,
        PerformanceDegraded.topic,
        group_id=TRIGGERS_GROUP,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_trigger_event(event: TriggerEvent) -> None:
        """Fire the scenario's triggers the event matches: drift triggers on DriftDetected,
        new_data triggers on DatasetUploaded of their path, performance triggers on
        PerformanceDegraded of their metric (each may emit TrainModel)."""
        consumer = TRIGGERS_GROUP
        if isinstance(event, DriftDetected):
            await trigger_handlers.on_drift_detected(scheduler, event, consumer=consumer)
        elif isinstance(event, DatasetUploaded):
            await trigger_handlers.on_dataset_uploaded(scheduler, event, consumer=consumer)
        else:
            await trigger_handlers.on_performance_degraded(scheduler, event, consumer=consumer)

    return router
