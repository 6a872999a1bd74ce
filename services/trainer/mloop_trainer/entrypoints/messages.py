"""What the trainer consumes from Kafka."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.commands import DeleteModels, TrainModel

from mloop_trainer import handlers
from mloop_trainer.context import Trainer

TRAIN_GROUP = "mloop.trainer.train"
DELETE_GROUP = "mloop.trainer.delete-models"


def build_router(trainer: Trainer) -> KafkaRouter:
    router = KafkaRouter()

    @work_subscriber(router, topics.TRAIN_MODEL, group=TRAIN_GROUP)
    async def on_train_model(command: TrainModel) -> None:
        """Queue the run in Postgres (its offset is committed at once; workers claim it)."""
        await handlers.on_train_model(trainer, command, consumer=TRAIN_GROUP)

    @work_subscriber(router, topics.DELETE_MODELS, group=DELETE_GROUP)
    async def on_delete_models(command: DeleteModels) -> None:
        """Delete model rows, then their artifacts."""
        await handlers.on_delete_models(trainer, command, consumer=DELETE_GROUP)

    return router
