"""The trainer prepares datasets for workflows (`PrepareDataset`)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.commands import PrepareDataset

from mloop_trainer import prepare
from mloop_trainer.context import Trainer

PREPARE_GROUP = "mloop.trainer.prepare"


def build_router(trainer: Trainer) -> KafkaRouter:
    router = KafkaRouter()

    @work_subscriber(router, topics.PREPARE_DATASET, group=PREPARE_GROUP)
    async def on_prepare_dataset(command: PrepareDataset) -> None:
        """Apply the recipe to the source version and store the result (once per command)."""
        await prepare.on_prepare_dataset(trainer, command, consumer=PREPARE_GROUP)

    return router
