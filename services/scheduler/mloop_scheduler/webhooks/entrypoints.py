"""What webhooks consume from Kafka: every event type a webhook may choose.

One work subscriber reads all of their topics in one consumer group (one group join instead of
ten), and takes the event as a union discriminated by `type`, so each arrives as its own model
(and the AsyncAPI document lists them all).
"""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from mloop_common.messages.events import (
    ABTestEnded,
    ABTestStarted,
    DatasetUploaded,
    DriftDetected,
    ModelPromoted,
    ModelRolledBack,
    ModelTrained,
    PerformanceDegraded,
    RunFailed,
    WorkflowStepFinished,
)
from pydantic import Field

from mloop_scheduler.webhooks.handlers import WebhookOutbox

WEBHOOKS_GROUP = "mloop.scheduler.webhooks"

WEBHOOK_EVENTS = (
    DriftDetected,
    PerformanceDegraded,
    ModelTrained,
    RunFailed,
    ModelPromoted,
    ModelRolledBack,
    ABTestStarted,
    ABTestEnded,
    WorkflowStepFinished,
    DatasetUploaded,
)

WebhookEvent = Annotated[
    DriftDetected
    | PerformanceDegraded
    | ModelTrained
    | RunFailed
    | ModelPromoted
    | ModelRolledBack
    | ABTestStarted
    | ABTestEnded
    | WorkflowStepFinished
    | DatasetUploaded,
    Field(discriminator="type"),
]


def build_router(outbox: WebhookOutbox) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        *(event.topic for event in WEBHOOK_EVENTS),
        group_id=WEBHOOKS_GROUP,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_webhook_event(event: WebhookEvent) -> None:
        """Queue one signed delivery for every enabled webhook of the event's scenario that
        chose its type; the scheduler's sender loop posts them and retries with backoff."""
        await outbox.on_event(event)

    return router
