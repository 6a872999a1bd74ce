"""Use cases of the scheduler: the deployment commands (promote, roll back, A/B tests).

Each is one transaction in `adapters.deployments`; once it committed, the outbox relay is woken
so the resulting event reaches the predictors at once rather than at the next poll.
"""

from __future__ import annotations

from mloop_common.messages.commands import EndABTest, PromoteModel, RollbackModel, StartABTest

from mloop_scheduler.adapters import deployments
from mloop_scheduler.context import Scheduler


async def on_promote_model(scheduler: Scheduler, command: PromoteModel, *, consumer: str) -> None:
    if await deployments.promote(scheduler.db, command, consumer=consumer):
        scheduler.runtime.relay.notify()


async def on_rollback_model(scheduler: Scheduler, command: RollbackModel, *, consumer: str) -> None:
    if await deployments.rollback(scheduler.db, command, consumer=consumer):
        scheduler.runtime.relay.notify()


async def on_start_ab_test(scheduler: Scheduler, command: StartABTest, *, consumer: str) -> None:
    if await deployments.start_test(scheduler.db, command, consumer=consumer):
        scheduler.runtime.relay.notify()


async def on_end_ab_test(scheduler: Scheduler, command: EndABTest, *, consumer: str) -> None:
    if await deployments.end_test(scheduler.db, command, consumer=consumer):
        scheduler.runtime.relay.notify()
