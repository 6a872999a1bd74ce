"""Use cases of the monitor's feedback log: store feedback from the topic and from the gateway,
dead-letter what cannot be used, take out feedback whose prediction never came, drop expired
daily partitions, and delete a scenario's feedback with its predictions.

Feedback may arrive before its prediction: it is stored at once, and the join with the
prediction log is a query (`mloop_common.db.labelled`), so it is joined whenever the prediction
arrives. Only feedback still alone after `feedback_ttl` is dead-lettered (and removed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from mloop_common import topics
from mloop_common.delivery import DeadLetter, PermanentError
from mloop_common.messages.commands import DeletePredictions
from mloop_common.messages.events import FeedbackReceived, ScenarioDeleted

from mloop_monitor.adapters import feedback_log, retention
from mloop_monitor.adapters.feedback_log import FeedbackWriter, Orphan, ScenarioTasks
from mloop_monitor.context import Monitor
from mloop_monitor.domain.feedback import (
    API,
    TOPIC,
    Candidate,
    FeedbackCheck,
    FeedbackRow,
    Refused,
    bare_payload,
    candidates_of_items,
    latest,
    parse_records,
    ttl_reason,
)
from mloop_monitor.domain.partitions import PARENTS, expired, horizon

log = logging.getLogger(__name__)

TTL_CONSUMER = "mloop.monitor.feedback-ttl"
ORPHANS_PER_ROUND = 1000
# A day partition this process wrote within this many seconds is left for a later sweep.
WRITE_GRACE = 600.0


@dataclass
class FeedbackLog:
    """What the feedback use cases share: the monitor, the scenarios' task types, the check
    and the writer."""

    monitor: Monitor
    tasks: ScenarioTasks = field(default_factory=ScenarioTasks)

    def __post_init__(self) -> None:
        self.check = FeedbackCheck(self.monitor.settings.prediction_secret)
        self.writer = FeedbackWriter(self.monitor.db, self.monitor.partitions)

    async def store(self, rows: Sequence[FeedbackRow]) -> int:
        return await self.writer.store(rows)


# --- storing -------------------------------------------------------------------------------


async def on_feedback_records(
    feedback: FeedbackLog, records: Sequence[ConsumerRecord], *, consumer: str
) -> int:
    """A batch of the bare feedback topic: the good messages stored with one statement, each
    bad one dead-lettered with its reason. Returns how many rows were written."""
    now = datetime.now(UTC)
    candidates, unparsed = parse_records(records, now)
    rows, refused = await _check(feedback, candidates, now, source=TOPIC)
    if unparsed:
        refused = sorted([*unparsed, *refused], key=lambda bad: bad.index)
    written = await feedback.store(latest(rows))
    if refused:
        # After the store: a failure to publish retries the batch, whose store is idempotent.
        await _publish(
            feedback,
            [_letter(consumer, records[bad.index], bad.reason, now=now) for bad in refused],
        )
        log.info("dead-lettered %d of %d feedback messages", len(refused), len(records))
    return written


async def on_feedback_received(
    feedback: FeedbackLog, event: FeedbackReceived, record: ConsumerRecord, *, consumer: str
) -> int:
    """Feedback the gateway accepted (checked there; checked again here, as anyone may write
    to the topic). Items that fail are dead-lettered one by one, with the message's place."""
    if event.scenario_id is None:
        raise PermanentError("FeedbackReceived without a scenario_id")
    now = datetime.now(UTC)
    candidates = candidates_of_items(event.scenario_id, event.items, event.occurred_at)
    rows, refused = await _check(feedback, candidates, now, source=API)
    written = await feedback.store(latest(rows))
    if refused:
        letters = []
        for bad in refused:
            item = event.items[bad.index]
            payload = _item_json(event.scenario_id, item.prediction_id, item.actual)
            reason = f"item {bad.index} of FeedbackReceived {event.event_id}: {bad.reason}"
            letters.append(_letter(consumer, record, reason, now=now, payload=payload))
        await _publish(feedback, letters)
    return written


async def _check(
    feedback: FeedbackLog, candidates: Sequence[Candidate], now: datetime, *, source: str
) -> tuple[list[FeedbackRow], list[Refused]]:
    tasks = await feedback.tasks.of(
        feedback.monitor.db, {candidate.scenario_id for candidate in candidates}
    )
    oldest = horizon(now, feedback.monitor.settings.retention_days)
    return feedback.check.rows(candidates, tasks, horizon=oldest, source=source)


# --- the time-to-live sweep ------------------------------------------------------------------


async def dead_letter_orphans(monitor: Monitor) -> int:
    """Dead-letter and delete the feedback received more than `feedback_ttl` ago whose
    prediction was never logged; how many went.

    The rows are deleted and their dead letters published in one transaction, committed after
    the publish: a crash between the two re-sends those dead letters at the next sweep (never
    loses one). Another replica sweeping at once skips the rows this one holds.
    """
    settings = monitor.settings
    total = 0
    while True:
        now = datetime.now(UTC)
        cutoff = datetime.fromtimestamp(now.timestamp() - settings.feedback_ttl, UTC)
        async with monitor.db.transaction() as session:
            orphans = await feedback_log.take_orphans(
                session, cutoff=cutoff, limit=ORPHANS_PER_ROUND
            )
            if orphans:
                letters = [
                    _orphan_letter(orphan, settings.feedback_topic, settings.feedback_ttl, now)
                    for orphan in orphans
                ]
                await asyncio.gather(
                    *(
                        monitor.runtime.broker.publish(
                            letter, topic=topics.DEAD_LETTER, key=letter.key.encode()
                        )
                        for letter in letters
                    )
                )
            await session.commit()
        total += len(orphans)
        if len(orphans) < ORPHANS_PER_ROUND:
            break
    if total:
        log.info("dead-lettered %d feedback items whose prediction never came", total)
    return total


def _orphan_letter(orphan: Orphan, feedback_topic: str, ttl: float, now: datetime) -> DeadLetter:
    return DeadLetter(
        consumer=TTL_CONSUMER,
        topic=feedback_topic if orphan.source == TOPIC else topics.FEEDBACK_RECEIVED,
        partition=-1,  # the log keeps no Kafka coordinates
        offset=-1,
        key=str(orphan.scenario_id),
        payload=bare_payload(orphan.scenario_id, orphan.prediction_id, orphan.actual),
        headers={"received_at": orphan.received_at.isoformat(), "source": orphan.source},
        error=ttl_reason(orphan.prediction_id, ttl),
        attempts=1,
        failed_at=now,
    )


# --- retention -------------------------------------------------------------------------------


async def drop_expired_partitions(monitor: Monitor, *, grace: float = WRITE_GRACE) -> list[str]:
    """Drop the daily partitions of both logs whose whole day is past `retention_days` (whole
    tables, never rows), and forget them; the names dropped. A partition this process wrote
    within `grace` seconds is left for a later sweep. An insert racing a drop finds no
    partition, makes it again and retries (see the logs' `store`)."""
    now = datetime.now(UTC)
    dropped: list[str] = []
    for parent in PARENTS:
        found = await retention.partitions_of(monitor.db, parent)
        for partition in expired(found, now=now, retention_days=monitor.settings.retention_days):
            if monitor.partitions.recently_written(partition, within=grace):
                continue
            if not await retention.drop(monitor.db, partition):
                log.warning("%s is busy; it is dropped at a later sweep", partition.name)
                continue
            monitor.partitions.forget([partition.day], parent=parent)
            dropped.append(partition.name)
    if dropped:
        log.info("retention dropped %s", ", ".join(dropped))
    return dropped


# --- deletions -------------------------------------------------------------------------------


async def on_delete_predictions(feedback: FeedbackLog, command: DeletePredictions) -> None:
    """The feedback on the predictions deleted goes with them (idempotent: deleting twice
    deletes nothing more)."""
    if command.scenario_id is None:
        raise PermanentError("DeletePredictions without a scenario_id")
    await feedback_log.delete_scenario_feedback(
        feedback.monitor.db, scenario_id=command.scenario_id, predicted_before=command.older_than
    )


async def on_scenario_deleted(feedback: FeedbackLog, event: ScenarioDeleted) -> None:
    if event.scenario_id is None:
        raise PermanentError("ScenarioDeleted without a scenario_id")
    feedback.tasks.forget(event.scenario_id)
    await feedback_log.delete_scenario_feedback(
        feedback.monitor.db, scenario_id=event.scenario_id, predicted_before=None
    )


# --- dead letters ----------------------------------------------------------------------------


def _letter(
    consumer: str,
    record: ConsumerRecord,
    reason: str,
    *,
    now: datetime,
    payload: str | None = None,
) -> DeadLetter:
    return DeadLetter(
        consumer=consumer,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        payload=payload if payload is not None else (record.value or b"").decode(errors="replace"),
        headers={
            name: value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            for name, value in (record.headers or ())
        },
        error=reason[:4000],
        attempts=1,
        failed_at=now,
    )


async def _publish(feedback: FeedbackLog, letters: Sequence[DeadLetter]) -> None:
    broker = feedback.monitor.runtime.broker
    await asyncio.gather(
        *(
            broker.publish(
                letter,
                topic=topics.DEAD_LETTER,
                key=letter.key.encode() if letter.key is not None else None,
            )
            for letter in letters
        )
    )


def _item_json(scenario_id: uuid.UUID, prediction_id: str, actual: Any) -> str:
    body = {"scenario_id": str(scenario_id), "prediction_id": prediction_id, "actual": actual}
    return json.dumps(body, default=str)
