"""What the scheduler consumes from Kafka."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from mloop_common import topics
from mloop_common.broker import work_subscriber
from mloop_common.messages.commands import EndABTest, PromoteModel, RollbackModel, StartABTest

from mloop_scheduler import handlers
from mloop_scheduler.context import Scheduler

PROMOTE_GROUP = "mloop.scheduler.promote"
ROLLBACK_GROUP = "mloop.scheduler.rollback"
START_AB_TEST_GROUP = "mloop.scheduler.start-ab-test"
END_AB_TEST_GROUP = "mloop.scheduler.end-ab-test"


def build_router(scheduler: Scheduler) -> KafkaRouter:
    router = KafkaRouter()

    @work_subscriber(router, topics.PROMOTE_MODEL, group=PROMOTE_GROUP)
    async def on_promote_model(command: PromoteModel) -> None:
        """Make a model the champion; emits ModelPromoted with the new deployment state."""
        await handlers.on_promote_model(scheduler, command, consumer=PROMOTE_GROUP)

    @work_subscriber(router, topics.ROLLBACK_MODEL, group=ROLLBACK_GROUP)
    async def on_rollback_model(command: RollbackModel) -> None:
        """Restore the previous champion; emits ModelRolledBack (and ABTestEnded when a running
        test ends with it)."""
        await handlers.on_rollback_model(scheduler, command, consumer=ROLLBACK_GROUP)

    @work_subscriber(router, topics.START_AB_TEST, group=START_AB_TEST_GROUP)
    async def on_start_ab_test(command: StartABTest) -> None:
        """Start an A/B or shadow test; emits ABTestStarted."""
        await handlers.on_start_ab_test(scheduler, command, consumer=START_AB_TEST_GROUP)

    @work_subscriber(router, topics.END_AB_TEST, group=END_AB_TEST_GROUP)
    async def on_end_ab_test(command: EndABTest) -> None:
        """End a test; emits ABTestEnded (and ModelPromoted when its challenger is promoted)."""
        await handlers.on_end_ab_test(scheduler, command, consumer=END_AB_TEST_GROUP)

    return router
