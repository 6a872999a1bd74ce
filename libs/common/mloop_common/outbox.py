"""Transactional outbox: messages are written with the state change and relayed afterwards.

`stage()` adds a message to the caller's transaction, so it exists only if that transaction
commits. `OutboxRelay` publishes pending rows in id order, marks them published, keeps them for
`outbox_retention` seconds, and re-queues the retained rows when it finds the broker was replaced
(`BrokerWatch` calls `replay`). Consumers are idempotent, so a replay is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from opentelemetry import propagate, trace
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.engine import Database
from mloop_common.db.models import OutboxMessage
from mloop_common.messages import Message
from mloop_common.settings import Settings

log = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0
tracer = trace.get_tracer(__name__)


def stage(session: AsyncSession, *, service: str, message: Message) -> None:
    """Add `message` to the session's transaction; trace context rides along in its headers."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    session.add(
        OutboxMessage(
            service=service,
            topic=message.topic,
            key=message.partition_key,
            payload=message.model_dump_json().encode(),
            headers=headers,
            event_id=message.event_id,
        )
    )


class OutboxRelay:
    """Publishes one service's outbox. Replicas may run one each: an advisory lock elects one."""

    def __init__(
        self,
        *,
        service: str,
        db: Database,
        settings: Settings,
        before_publish: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """`before_publish` runs before every round that has rows to send; the runtime passes
        `BrokerWatch.check`, so nothing is produced to a replaced broker before its topics are
        created and the retained rows re-queued."""
        self.before_publish = before_publish
        self.service = service
        self.db = db
        self.settings = settings
        self._lock_id = zlib.crc32(f"outbox:{service}".encode())
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self.published = 0

    def notify(self) -> None:
        """Tell the relay new rows were committed, so it does not wait for its next poll."""
        self._wake.set()

    async def run(self) -> None:
        await self._start_producer()
        try:
            await self._loop()
        finally:
            assert self._producer is not None
            await self._producer.stop()

    async def _start_producer(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.require_kafka(),
            client_id=f"mloop-{self.service}-relay",
            enable_idempotence=False,
            acks="all",
            linger_ms=5,
        )
        await self._producer.start()

    async def _restart_producer(self) -> None:
        """A failed round may leave stale metadata (a replaced broker): start afresh."""
        assert self._producer is not None
        with contextlib.suppress(Exception):
            await self._producer.stop()
        await self._start_producer()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = 0.0
        while True:
            try:
                if loop.time() >= next_purge:
                    await self.purge()
                    next_purge = loop.time() + PURGE_INTERVAL
                sent = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("outbox relay round failed, retrying: %r", error)
                sent = 0
                await asyncio.sleep(self.settings.outbox_poll_interval)
                with contextlib.suppress(Exception):
                    await self._restart_producer()
            if sent < self.settings.outbox_batch_size:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.outbox_poll_interval)
                except TimeoutError:
                    pass

    async def publish_pending(self) -> int:
        """Publish up to one batch of pending rows in order; returns how many were sent."""
        assert self._producer is not None
        async with self.db.transaction() as session:
            if not await self._leader(session):
                return 0
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.service == self.service)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(self.settings.outbox_batch_size)
                )
            ).all()
            if not rows:
                return 0
            if self.before_publish is not None:
                await self.before_publish()
            for row in rows:
                await self._send(row)
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]))
                .values(published_at=datetime.now(UTC))
            )
            await session.commit()
        self.published += len(rows)
        return len(rows)

    async def _send(self, row: OutboxMessage) -> None:
        """Publish one record and wait for its ack; the trace begun where the row was written
        continues here. One at a time: the local broker mishandles concurrent produce requests
        to one partition (it reports `UnknownError` and drops the batch)."""
        assert self._producer is not None
        parent = propagate.extract(row.headers)
        with tracer.start_as_current_span(
            f"{row.topic} publish", context=parent, kind=trace.SpanKind.PRODUCER
        ):
            headers: dict[str, str] = {}
            propagate.inject(headers)
            await self._producer.send_and_wait(
                row.topic,
                value=row.payload,
                key=row.key,
                headers=[(name, value.encode()) for name, value in headers.items()],
            )

    async def _leader(self, session: AsyncSession) -> bool:
        result = await session.execute(
            text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": self._lock_id}
        )
        return bool(result.scalar())

    async def replay(self) -> int:
        """Re-queue every row published within the retention window (the broker lost them)."""
        since = datetime.now(UTC) - timedelta(seconds=self.settings.outbox_retention)
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.service == self.service)
                .where(OutboxMessage.published_at >= since)
                .values(published_at=None)
            )
            await session.commit()
        log.warning("replaying %d retained outbox messages of %s", result.rowcount, self.service)
        return result.rowcount

    async def purge(self) -> None:
        """Drop published rows older than the retention window."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.settings.outbox_retention)
        async with self.db.transaction() as session:
            await session.execute(
                delete(OutboxMessage)
                .where(OutboxMessage.service == self.service)
                .where(OutboxMessage.published_at < cutoff)
            )
            await session.commit()
