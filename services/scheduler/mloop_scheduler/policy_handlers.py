"""Use cases of automatic deployment: the policy's decision on a trained model, and the watch
(every `scheduler_tick`) over the A/B tests the policy decides and the probations of champions
it promoted. Each change is one transaction in `adapters.policy`; once one staged events, the
outbox relay is woken so they reach the predictors at once."""

from __future__ import annotations

import asyncio
import logging

from mloop_common.messages.events import ModelTrained

from mloop_scheduler.adapters import policy
from mloop_scheduler.context import Scheduler

log = logging.getLogger(__name__)


async def on_model_trained(scheduler: Scheduler, event: ModelTrained, *, consumer: str) -> None:
    if await policy.on_model_trained(
        scheduler.db, event, settings=scheduler.settings, consumer=consumer
    ):
        scheduler.runtime.relay.notify()


async def check_once(scheduler: Scheduler) -> int:
    """Decide what can be decided now; the number of changes made. A scenario whose check
    fails is logged and tried again at the next tick, without holding up the others."""
    settings, changed = scheduler.settings, 0
    for running in await policy.running_tests(scheduler.db):
        try:
            changed += await policy.check_test(scheduler.db, running, settings=settings)
        except Exception:
            log.exception("A/B test %s: the decision failed; retried next tick", running.test_id)
    for watch in await policy.watching(scheduler.db):
        try:
            changed += await policy.check_probation(scheduler.db, watch, settings=settings)
        except Exception:
            log.exception("probation of %s: the check failed; retried next tick", watch.model_id)
    if changed:
        scheduler.runtime.relay.notify()
    return changed


async def watch(scheduler: Scheduler) -> None:
    """The background loop: `check_once` every `scheduler_tick` seconds."""
    while True:
        await check_once(scheduler)
        await asyncio.sleep(scheduler.settings.scheduler_tick)
