"""What the monitor consumes for its feedback log: the bare feedback topic (in batches, raw
bytes), and, in one consumer group, `FeedbackReceived` from the gateway and the deletions the
feedback follows (every group costs a join when the service starts, about 5 s on the local
broker, so these three small streams share one)."""

from __future__ import annotations

from typing import Annotated, Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.commands import DeletePredictions
from mloop_common.messages.events import FeedbackReceived, ScenarioDeleted
from pydantic import Field

from mloop_monitor import feedback_handlers
from mloop_monitor.context import Monitor
from mloop_monitor.feedback_handlers import FeedbackLog

TOPIC_GROUP = "mloop.monitor.feedback-topic"
EVENTS_GROUP = "mloop.monitor.feedback"

FeedbackEvent = Annotated[
    FeedbackReceived | DeletePredictions | ScenarioDeleted, Field(discriminator="type")
]


async def keep_records(records: tuple[ConsumerRecord, ...], default: Any) -> StreamMessage[Any]:
    """FastStream's batch parser, made safe for headers that are not UTF-8 (it decodes them
    all; one bad header would fail the whole batch): such values are replaced first."""
    try:
        return await default(records)
    except UnicodeDecodeError:
        for record in records:
            record.headers = [
                (name, value.decode(errors="replace").encode()) for name, value in record.headers
            ]
        return await default(records)


def raw_records(message: StreamMessage[Any]) -> tuple[ConsumerRecord, ...]:
    """The batch's Kafka records as they came: the handler parses each value itself (orjson),
    so FastStream's per-message JSON decoding is skipped."""
    return message.raw_message


def build_router(monitor: Monitor) -> KafkaRouter:
    router = KafkaRouter()
    feedback = FeedbackLog(monitor)
    settings = monitor.settings

    @work_subscriber(
        router,
        settings.feedback_topic,
        group=TOPIC_GROUP,
        batch=True,
        max_records=settings.feedback_batch_size,
        parser=keep_records,
        decoder=raw_records,
        title=f"{settings.feedback_topic}:feedback",
        description="Bare feedback JSON from apps: {scenario_id, prediction_id, actual}.",
    )
    async def on_feedback_topic(records: Any) -> None:
        """Store a batch of bare feedback with one statement; dead-letter each bad message.

        Bad messages never raise (each is dead-lettered here with its reason); what raises is
        the database or the broker failing, which the broker middleware retries, and past its
        attempts the batch is not committed and comes again (no batch is ever skipped)."""
        await feedback_handlers.on_feedback_records(feedback, records, consumer=TOPIC_GROUP)

    @router.subscriber(  # as `work_subscriber`, for three topics
        topics.FEEDBACK_RECEIVED,
        topics.DELETE_PREDICTIONS,
        topics.SCENARIO_DELETED,
        group_id=EVENTS_GROUP,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_feedback_event(event: FeedbackEvent, message: KafkaMessage) -> None:
        """Store the feedback the gateway accepted; delete the feedback on deleted predictions
        and of deleted scenarios (idempotent: deleting twice deletes nothing more)."""
        if isinstance(event, FeedbackReceived):
            await feedback_handlers.on_feedback_received(
                feedback, event, message.raw_message, consumer=EVENTS_GROUP
            )
        elif isinstance(event, DeletePredictions):
            await feedback_handlers.on_delete_predictions(feedback, event)
        else:
            await feedback_handlers.on_scenario_deleted(feedback, event)

    return router
