"""What automatic deployment consumes from Kafka: every trained model, for the policy."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.events import ModelTrained

from mloop_scheduler import policy_handlers
from mloop_scheduler.context import Scheduler

POLICY_GROUP = "mloop.scheduler.policy"


def build_router(scheduler: Scheduler) -> KafkaRouter:
    router = KafkaRouter()

    @work_subscriber(router, topics.MODEL_TRAINED, group=POLICY_GROUP)
    async def on_model_trained(event: ModelTrained) -> None:
        """Apply the scenario's deployment policy to the new model: promote it (the first model,
        or a better one under `auto`), start an A/B test (`ab_test`) or leave it (`manual`);
        emits ModelPromoted or ABTestStarted, and records the decision."""
        await policy_handlers.on_model_trained(scheduler, event, consumer=POLICY_GROUP)

    return router
