"""The gateway records prepared datasets (`DatasetPrepared`, from the trainer) as versions."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.events import DatasetPrepared

from mloop_gateway.context import Gateway
from mloop_gateway.handlers import prepared

PREPARED_GROUP = "mloop.gateway.prepared"


def build_router(gw: Gateway) -> KafkaRouter:
    router = KafkaRouter()

    @work_subscriber(router, topics.DATASET_PREPARED, group=PREPARED_GROUP)
    async def on_dataset_prepared(event: DatasetPrepared) -> None:
        """Record the prepared file as the next version of its data path (idempotent)."""
        await prepared.on_dataset_prepared(gw, event, consumer=PREPARED_GROUP)

    return router
