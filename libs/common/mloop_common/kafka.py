"""Kafka administration: topics, and noticing that the broker was replaced."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mloop_common import topics
from mloop_common.db.engine import Database
from mloop_common.db.models import KafkaCluster
from mloop_common.settings import Settings

log = logging.getLogger(__name__)


def all_topics(settings: Settings) -> list[str]:
    names = [
        value for name, value in vars(topics).items() if name.isupper() and isinstance(value, str)
    ]
    return [*names, settings.feedback_topic]


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> None:
    """Create the topics `names` (default: every MLoop topic) that do not exist yet.

    Topics are made explicitly, never by auto-creation: the local broker acknowledges records
    sent to a topic it does not have yet and may drop them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.require_kafka())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            name
            for name in (all_topics(settings) if names is None else names)
            if name not in existing
        ]
        if not missing:
            return
        new = [NewTopic(name, settings.kafka_partitions, 1) for name in missing]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass
        log.info("created %d topics", len(missing))
    finally:
        await admin.close()


async def cluster_id(settings: Settings) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.require_kafka())
    await admin.start()
    try:
        return (await admin.describe_cluster())["cluster_id"]
    finally:
        await admin.close()


Step = Callable[[], Awaitable[object]]


class BrokerWatch:
    """Notices a replaced broker by its cluster id and runs the recovery steps.

    A memory-only broker that restarts comes back empty under a new cluster id (the local stack
    gives every start a fresh one). Two kinds of step run then:
    - `service_steps` (outbox replay) once per service: the replica that records the new id in
      `kafka_clusters` runs them, also when the change happened while the service was down;
    - `process_steps` (restart the consumers, so their in-memory offsets are dropped and they
      start again from the earliest record) in every process that saw the old id.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        service: str,
        db: Database,
        service_steps: Iterable[Step] = (),
        process_steps: Iterable[Step] = (),
    ) -> None:
        self.settings = settings
        self.service = service
        self.db = db
        self.service_steps = list(service_steps)
        self.process_steps = list(process_steps)
        self.seen: str | None = None
        self._lock = asyncio.Lock()  # the watch loop and the relay both call check()

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as error:  # broker down: the next check will tell
                log.debug("broker check failed: %r", error)
            await asyncio.sleep(self.settings.broker_check_interval)

    async def check(self) -> None:
        async with self._lock:
            await self._check()

    async def _check(self) -> None:
        current = await cluster_id(self.settings)
        if await self._record(current):
            log.warning("%s: the broker was replaced (cluster %s)", self.service, current)
            await ensure_topics(self.settings)
            for step in self.service_steps:
                await step()
        if self.seen is not None and self.seen != current:
            for step in self.process_steps:
                await step()
        self.seen = current

    async def _record(self, current: str) -> bool:
        """Store `current` as the service's cluster; True if it replaced a different one."""
        async with self.db.transaction() as session:
            insert = (
                pg_insert(KafkaCluster)
                .values(service=self.service, cluster_id=current)
                .on_conflict_do_nothing()
            )
            if (await session.execute(insert)).rowcount:
                await session.commit()
                return False
            changed = await session.execute(
                update(KafkaCluster)
                .where(KafkaCluster.service == self.service)
                .where(KafkaCluster.cluster_id != current)
                .values(cluster_id=current)
            )
            await session.commit()
            return bool(changed.rowcount)
