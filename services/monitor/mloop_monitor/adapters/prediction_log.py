"""The prediction log in Postgres: daily partitions made on demand, one statement per message.

`Partitions` remembers the days whose partition exists, so the hot path issues no DDL once a
day has been seen. `store` writes a whole message's rows with one `INSERT ... SELECT FROM
unnest(...)` in the transaction that records the message as processed; ON CONFLICT on the
primary key makes a record sent twice (in two messages) harmless too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from mloop_common.db.engine import Database
from mloop_common.db.serving import Prediction
from mloop_common.delivery import first_delivery
from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError

from mloop_monitor.domain.partitions import DayPartition, day_of
from mloop_monitor.domain.prediction_log import LogRow

NO_PARTITION = "23514"  # check_violation: "no partition of relation ... found for row"

INSERT = text(
    """
    INSERT INTO predictions
        (scenario_id, prediction_id, predicted_at, model_id, arm, inputs, output, latency_ms)
    SELECT CAST(:scenario_id AS uuid), r.prediction_id, r.predicted_at, r.model_id, r.arm,
           CAST(r.inputs AS jsonb), CAST(r.output AS jsonb), r.latency_ms
    FROM unnest(
        CAST(:prediction_ids AS text[]),
        CAST(:predicted_ats AS timestamptz[]),
        CAST(:model_ids AS uuid[]),
        CAST(:arms AS text[]),
        CAST(:inputs AS text[]),
        CAST(:outputs AS text[]),
        CAST(:latencies AS float8[])
    ) AS r(prediction_id, predicted_at, model_id, arm, inputs, output, latency_ms)
    ON CONFLICT DO NOTHING
    """
)


class Partitions:
    """The daily partitions known to exist (in this process)."""

    def __init__(self) -> None:
        self._known: set[date] = set()

    async def ensure(self, db: Database, days: Iterable[date]) -> None:
        for day in sorted(set(days) - self._known):
            await _create(db, DayPartition(day))
            self._known.add(day)

    def forget(self, days: Iterable[date] | None = None) -> None:
        """Stop trusting the memory (all days, or some): a partition was dropped meanwhile."""
        if days is None:
            self._known.clear()
        else:
            self._known.difference_update(days)


async def _create(db: Database, partition: DayPartition) -> None:
    """CREATE ... IF NOT EXISTS, in a transaction of its own. Two replicas creating the same
    partition at once may still collide in the catalog; the loser finds it made and moves on."""
    try:
        async with db.transaction() as session:
            await session.execute(text(partition.create_sql()))
            await session.commit()
    except DBAPIError:
        async with db.transaction() as session:
            exists = await session.scalar(
                text("SELECT to_regclass(:name) IS NOT NULL"), {"name": partition.name}
            )
        if not exists:
            raise


async def store(
    db: Database,
    partitions: Partitions,
    *,
    scenario_id: uuid.UUID,
    rows: Sequence[LogRow],
    consumer: str,
    event_id: uuid.UUID,
) -> int | None:
    """Write the rows (their partitions made first); None when the message was stored before,
    else how many rows were new."""
    days = {day_of(row.predicted_at) for row in rows}
    await partitions.ensure(db, days)
    try:
        return await _insert(db, scenario_id, rows, consumer=consumer, event_id=event_id)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != NO_PARTITION:
            raise
    partitions.forget(days)  # dropped since we made it (retention): make it again
    await partitions.ensure(db, days)
    return await _insert(db, scenario_id, rows, consumer=consumer, event_id=event_id)


async def _insert(
    db: Database,
    scenario_id: uuid.UUID,
    rows: Sequence[LogRow],
    *,
    consumer: str,
    event_id: uuid.UUID,
) -> int | None:
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=event_id):
            return None
        inserted = 0
        if rows:
            result = await session.execute(
                INSERT,
                {
                    "scenario_id": scenario_id,
                    "prediction_ids": [row.prediction_id for row in rows],
                    "predicted_ats": [row.predicted_at for row in rows],
                    "model_ids": [row.model_id for row in rows],
                    "arms": [row.arm for row in rows],
                    "inputs": [row.inputs for row in rows],
                    "outputs": [row.output for row in rows],
                    "latencies": [row.latency_ms for row in rows],
                },
            )
            inserted = result.rowcount
        await session.commit()
    return inserted


async def delete_before(
    db: Database,
    *,
    scenario_id: uuid.UUID,
    before: datetime | None,
    consumer: str,
    event_id: uuid.UUID,
) -> int | None:
    """Delete the scenario's predictions made before `before` (all of them for None); None
    when the message was handled before, else how many rows went."""
    query = delete(Prediction).where(Prediction.scenario_id == scenario_id)
    if before is not None:
        query = query.where(Prediction.predicted_at < before)
    async with db.transaction() as session:
        if not await first_delivery(session, consumer=consumer, event_id=event_id):
            return None
        result = await session.execute(query)
        await session.commit()
    return result.rowcount
