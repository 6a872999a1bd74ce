"""Use cases of webhooks: turn an event into deliveries, and deliver what is due.

`WebhookOutbox` is wired once in `main.create_app`: its `on_event` is called by the Kafka
subscriber (entrypoints), and its `run` is the background loop that sends. Enqueueing wakes the
loop; otherwise it sleeps until the earliest pending delivery falls due (at most a scheduler
tick, so deliveries enqueued by other replicas or by workflow steps are seen soon).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from mloop_common.db.webhooks import notification_secret
from mloop_common.messages import Message
from mloop_common.webhook_targets import AllowList

from mloop_scheduler.context import Scheduler
from mloop_scheduler.webhooks import domain
from mloop_scheduler.webhooks.adapters import queue
from mloop_scheduler.webhooks.adapters.http import HttpSender

log = logging.getLogger(__name__)

BATCH = 32  # deliveries claimed (and sent concurrently) per round
LEASE_MARGIN = 30.0  # seconds a claim outlasts the send's own time limit


class WebhookOutbox:
    def __init__(
        self,
        scheduler: Scheduler,
        *,
        sender: Callable[[], HttpSender] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.scheduler = scheduler
        settings = scheduler.settings
        self._make_sender = sender or (
            lambda: HttpSender(
                allow=AllowList.parse(settings.webhook_allow), timeout=settings.webhook_timeout
            )
        )
        self._rand = rand
        self._wake = asyncio.Event()
        self.tries = 0  # tries recorded by this process

    def notify(self) -> None:
        """New deliveries were committed: send them now rather than at the next look."""
        self._wake.set()

    # -- enqueue ----------------------------------------------------------------------------------

    async def on_event(self, message: Message) -> int:
        """One delivery per webhook of the scenario that chose this event (idempotent)."""
        async with self.scheduler.db.transaction() as session:
            added = await queue.enqueue_event(session, message, domain.payload(message))
            await session.commit()
        if added:
            log.info("event %s %s: %d webhook deliveries", message.type, message.event_id, added)
            self.notify()
        return added

    # -- deliver ----------------------------------------------------------------------------------

    async def run(self) -> None:
        sender = self._make_sender()
        try:
            while True:
                if not await self.deliver_due(sender):
                    await self._idle()
        finally:
            await sender.close()

    async def deliver_due(self, sender: HttpSender) -> int:
        """Claim a round of due deliveries and send them concurrently; how many were claimed."""
        settings = self.scheduler.settings
        claims = await queue.claim(
            self.scheduler.db,
            limit=BATCH,
            lease=settings.webhook_timeout + LEASE_MARGIN,
            max_attempts=settings.webhook_max_attempts,
            notification_secret=self._notification_secret,
        )
        await asyncio.gather(*(self._deliver(sender, claimed) for claimed in claims))
        return len(claims)

    async def _deliver(self, sender: HttpSender, claimed: queue.Claimed) -> None:
        settings = self.scheduler.settings
        if not claimed.secret:  # its webhook was deleted as it was claimed: nothing to send
            return
        content = domain.body(claimed.payload)
        headers = {
            domain.EVENT_HEADER: claimed.event_type,
            domain.DELIVERY_HEADER: str(claimed.id),
            domain.SIGNATURE_HEADER: domain.signature(claimed.secret, int(time.time()), content),
        }
        outcome = await sender.send(claimed.url, content, headers)
        now = datetime.now(UTC)
        transition = domain.after_attempt(
            outcome,
            attempt=claimed.attempt,
            max_attempts=settings.webhook_max_attempts,
            base=settings.webhook_backoff,
            now=now,
            rand=self._rand(),
        )
        if await queue.record(self.scheduler.db, claimed, transition, outcome, now=now):
            self.tries += 1
        if transition.status == "failed":
            log.warning(
                "webhook delivery %d to %s failed after %d tries: %s",
                claimed.id,
                claimed.url,
                claimed.attempt,
                outcome.error,
            )

    async def _idle(self) -> None:
        tick = self.scheduler.settings.scheduler_tick
        self._wake.clear()  # before looking, so a notify() from now on is not missed
        due = await queue.next_due(self.scheduler.db)
        wait = tick
        if due is not None:
            wait = min(tick, max((due - datetime.now(UTC)).total_seconds(), 0.0))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.01))
        except TimeoutError:
            pass

    def _notification_secret(self, scenario_id: uuid.UUID) -> str:
        return notification_secret(self.scheduler.settings.prediction_secret, scenario_id)
