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
# The longest the feedback consumer waits for records, in the broker (a fetch) and here (a
# batch), so that feedback at a steady rate is stored well within a second of its sending: a
# broker that holds a fetch for its whole wait even when records arrive meanwhile (the local one
# does) would otherwise add up to half a second (aiokafka's default). Kafka answers as records
# come anyway; waiting less only makes an idle consumer ask more often.
WAIT_MS = 50

FeedbackEvent = Annotated[
    FeedbackReceived | DeletePredictions | ScenarioDeleted, Field(discriminator="type")
]


async def parse_batch(records: tuple[ConsumerRecord, ...], default: Any) -> StreamMessage[Any]:
    """FastStream's batch parser without its work per record, a sixth of the monitor's time
    on a backlog: it decodes every record's headers, and tracing then reads every record's
    headers for baggage. Here the message is parsed from the first record and stands for the
    batch (body, raw records); `batch_headers`, which tracing reads record by record, lists
    the headers of the records that carry some (bare feedback from apps rarely does). Header
    values that are not UTF-8 are replaced first (a decoding error would fail the batch)."""
    carried = [record for record in records if record.headers]
    for record in carried:
        record.headers = _readable(record.headers)
    first, last = records[0], records[-1]
    message = await default((first,))
    message.raw_message = records
    message.body = [record.value or b"" for record in records]
    message.batch_headers = [
        {name: value.decode() for name, value in record.headers} for record in carried
    ]
    message.message_id = f"{first.offset}-{last.offset}-{first.timestamp}"
    return message


def _readable(headers: Any) -> list[tuple[str, bytes]]:
    """Header values as FastStream can decode them: UTF-8 bytes (None as empty)."""
    found = []
    for name, value in headers:
        if not isinstance(value, bytes):
            value = b"" if value is None else str(value).encode()
        try:
            value.decode()
        except UnicodeDecodeError:
            value = value.decode(errors="replace").encode()
        found.append((name, value))
    return found


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
        fetch_max_wait_ms=WAIT_MS,
        batch_timeout_ms=WAIT_MS,
        parser=parse_batch,
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
