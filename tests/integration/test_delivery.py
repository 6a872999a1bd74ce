"""The delivery guarantees on the real local broker and Postgres (DESIGN.md, Delivery)."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiokafka import AIOKafkaProducer
from mloop_common import topics
from mloop_common.broker import restart_subscribers
from mloop_common.db.engine import Database
from mloop_common.kafka import BrokerWatch, ensure_topics
from mloop_common.outbox import OutboxRelay, stage
from mloop_common.settings import Settings

from tests.fixtures.messaging import (
    create_effects_table,
    effects,
    probe_type,
    read_topic,
    recording_handler,
    running_consumer,
    wait_until,
)
from tests.fixtures.stack import make_broker


async def test_outbox_publishes_only_after_commit_and_never_after_rollback(
    settings: Settings, db: Database
) -> None:
    probe = probe_type("outbox")
    relay = OutboxRelay(service=f"svc-{uuid.uuid4().hex[:6]}", db=db, settings=settings)
    relay_task = asyncio.create_task(relay.run())
    try:
        committed, rolled_back = probe(n=1), probe(n=2)
        async with db.transaction() as session:
            stage(session, service=relay.service, message=committed)
            await session.flush()
            await asyncio.sleep(0.5)  # the relay polls meanwhile: the row is not visible to it
            assert relay.published == 0
            await session.commit()
        async with db.transaction() as session:
            stage(session, service=relay.service, message=rolled_back)
            await session.flush()
            # leaving the block without commit rolls back

        records = await read_topic(settings, probe.topic, expect=1, timeout=10)
        await asyncio.sleep(1.0)  # time enough for a wrongly relayed second message
        records += await read_topic(settings, probe.topic, expect=2, timeout=1)
    finally:
        relay_task.cancel()
    event_ids = {json.loads(record.value)["event_id"] for record in records}
    assert event_ids == {str(committed.event_id)}
    assert relay.published == 1


async def test_redelivered_message_has_no_second_effect(settings: Settings, db: Database) -> None:
    probe = probe_type("redeliver")
    table = await create_effects_table(db)
    group = f"mloop.test.redeliver.{uuid.uuid4().hex[:6]}"
    message = probe(n=7)
    producer = AIOKafkaProducer(bootstrap_servers=settings.require_kafka())
    await producer.start()
    try:
        async with running_consumer(settings, probe, recording_handler(db, table, group), group):
            for _ in range(3):  # the same message delivered three times
                await producer.send_and_wait(
                    probe.topic, message.model_dump_json().encode(), key=message.partition_key
                )
            follower = probe(n=8)
            await producer.send_and_wait(
                probe.topic, follower.model_dump_json().encode(), key=message.partition_key
            )

            async def follower_seen() -> bool:
                return any(n == 8 for _, n in await effects(db, table))

            await wait_until(follower_seen, timeout=30)
    finally:
        await producer.stop()
    assert await effects(db, table) == [(message.event_id, 7), (follower.event_id, 8)]


async def test_poisoned_messages_are_dead_lettered_and_do_not_block_the_partition(
    settings: Settings, db: Database
) -> None:
    probe = probe_type("poison")
    table = await create_effects_table(db)
    group = f"mloop.test.poison.{uuid.uuid4().hex[:6]}"
    key = b"scenario-1"  # one key: every message lands in the same partition, in order
    good_before, failing, good_after = probe(n=1), probe(n=2, poison=True), probe(n=3)
    payloads = [
        good_before.model_dump_json().encode(),
        b"{not json",
        json.dumps({"type": "Probe", "n": "not a number"}).encode(),
        failing.model_dump_json().encode(),
        good_after.model_dump_json().encode(),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.require_kafka())
    await producer.start()
    try:
        async with running_consumer(settings, probe, recording_handler(db, table, group), group):
            for payload in payloads:
                await producer.send_and_wait(probe.topic, payload, key=key)

            async def last_seen() -> bool:
                return any(n == 3 for _, n in await effects(db, table))

            await wait_until(last_seen, timeout=30)
    finally:
        await producer.stop()
    assert [n for _, n in await effects(db, table)] == [1, 3]

    letters = [
        json.loads(record.value)
        for record in await read_topic(settings, topics.DEAD_LETTER, expect=10**6, timeout=3)
    ]
    mine = [letter for letter in letters if letter["topic"] == probe.topic]
    assert [letter["payload"] for letter in mine] == [p.decode() for p in payloads[1:4]]
    assert all(letter["consumer"] == group for letter in mine)
    assert "RuntimeError: cannot handle message 2" in mine[2]["error"]
    assert mine[2]["attempts"] == settings.consumer_max_attempts
    assert mine[0]["attempts"] == 1  # unparseable input is not retried


async def test_broker_replaced_mid_relay_every_message_has_its_effect_exactly_once(
    settings: Settings, db: Database, tmp_path
) -> None:
    broker = make_broker(tmp_path)
    local = settings.model_copy(
        update={"kafka_bootstrap": broker.bootstrap, "outbox_batch_size": 20}
    )
    probe = probe_type("replace")
    table = await create_effects_table(db)
    group = f"mloop.test.replace.{uuid.uuid4().hex[:6]}"
    total = 400
    sent = [probe(n=i, scenario_id=uuid.uuid4()) for i in range(total)]
    service = f"svc-{uuid.uuid4().hex[:6]}"
    await ensure_topics(local, [probe.topic])

    async def write_steadily() -> None:
        """The application keeps committing messages while the broker dies and comes back."""
        for start in range(0, total, 10):
            async with db.transaction() as session:
                for message in sent[start : start + 10]:
                    stage(session, service=service, message=message)
                await session.commit()
            relay.notify()
            await asyncio.sleep(0.05)

    async with running_consumer(
        local, probe, recording_handler(db, table, group), group
    ) as consumer:
        watch = BrokerWatch(  # wired as in ServiceRuntime
            local,
            service=service,
            db=db,
            service_steps=[lambda: ensure_topics(local, [probe.topic])],
            process_steps=[lambda: restart_subscribers(consumer)],
        )
        relay = OutboxRelay(service=service, db=db, settings=local, before_publish=watch.check)
        watch.service_steps.append(relay.replay)
        await watch.check()
        tasks = [asyncio.create_task(job()) for job in (relay.run, watch.run)]
        writer = asyncio.create_task(write_steadily())
        try:

            async def some_relayed() -> bool:
                return relay.published >= 100

            await wait_until(some_relayed, timeout=30)
            broker.kill()  # mid-relay: the writer goes on, the rest waits in the outbox
            assert not writer.done() and relay.published < total
            await asyncio.sleep(1)
            broker.start()  # a new, empty broker on the same address
            await writer

            async def all_effects() -> bool:
                return len(await effects(db, table)) >= total

            await wait_until(all_effects, timeout=120)
            await asyncio.sleep(2)  # let any duplicate delivery arrive before counting
        finally:
            for task in [*tasks, writer]:
                task.cancel()
            broker.stop()
    done = await effects(db, table)
    assert sorted(n for _, n in done) == list(range(total))  # each exactly once
    assert {event_id for event_id, _ in done} == {m.event_id for m in sent}
