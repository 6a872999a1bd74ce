"""What the workflow runner consumes from Kafka, and its clock (retries whose time came)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from mloop_common.messages.commands import RunWorkflow
from mloop_common.messages.events import DatasetPrepared, DatasetUploaded, ModelTrained, RunFailed
from pydantic import Field

from mloop_scheduler.context import Scheduler
from mloop_scheduler.workflows import handlers

log = logging.getLogger(__name__)

WORKFLOWS_GROUP = "mloop.scheduler.workflows"

WorkflowInput = Annotated[
    RunWorkflow | ModelTrained | RunFailed | DatasetUploaded | DatasetPrepared,
    Field(discriminator="type"),
]
TOPICS = tuple(
    message.topic
    for message in (RunWorkflow, ModelTrained, RunFailed, DatasetUploaded, DatasetPrepared)
)


def build_router(scheduler: Scheduler) -> KafkaRouter:
    """One work subscriber reads every topic the runner needs in one consumer group (one group
    join instead of five), taking each message as its own model (discriminated by `type`)."""
    router = KafkaRouter()

    @router.subscriber(
        *TOPICS,
        group_id=WORKFLOWS_GROUP,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_workflow_message(message: WorkflowInput) -> None:
        """RunWorkflow starts a run; ModelTrained / RunFailed settle the training step waiting
        on that run, DatasetUploaded / DatasetPrepared the preprocessing step waiting on that
        dataset version (WorkflowStepFinished as each step ends)."""
        match message:
            case RunWorkflow():
                await handlers.on_run_workflow(scheduler, message, consumer=WORKFLOWS_GROUP)
            case ModelTrained():
                await handlers.on_model_trained(scheduler, message)
            case RunFailed():
                await handlers.on_run_failed(scheduler, message)
            case DatasetUploaded():
                await handlers.on_dataset_uploaded(scheduler, message)
            case DatasetPrepared():
                await handlers.on_dataset_prepared(scheduler, message)

    return router


def retry_loop(scheduler: Scheduler):  # type: ignore[no-untyped-def]
    """The background loop that starts steps whose retry is due, every `scheduler_tick`."""

    async def loop() -> None:
        while True:
            await handlers.retry_due(scheduler)
            await asyncio.sleep(scheduler.settings.scheduler_tick)

    return loop
