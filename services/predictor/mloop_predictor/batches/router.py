"""What the batch side of the predictor consumes from Kafka."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.commands import PredictBatch

from mloop_predictor.batches import jobs
from mloop_predictor.batches.context import Batches

BATCH_GROUP = "mloop.predictor.batch"


def build_router(batches: Batches) -> KafkaRouter:
    router = KafkaRouter()

    @work_subscriber(router, topics.PREDICT_BATCH, group=BATCH_GROUP)
    async def on_predict_batch(command: PredictBatch) -> None:
        """Queue the job in Postgres (its offset is committed at once; workers claim it)."""
        if await jobs.record(batches.db, command, consumer=BATCH_GROUP):
            batches.wake.set()

    return router
