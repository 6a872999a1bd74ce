"""The prediction log in Postgres: daily partitions made on demand, one statement per message.

`Partitions` remembers the days whose partition exists (of the prediction and the feedback log),
so the hot path issues no DDL once a day has been seen. `store` writes a whole message's rows
with one `INSERT ... SELECT FROM unnest(...)` in the transaction that records the message as
processed; ON CONFLICT on the primary key makes a record sent twice (in two messages) harmless
too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime

from mloop_common.db.engine import Database
from mloop_common.db.serving import Prediction
from mloop_common.delivery import first_delivery
from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError

from mloop_monitor.domain.partitions import PARENTS, PREDICTIONS, DayPartition, day_of
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
    """The daily partitions known to exist (in this process), of either log.

    It also remembers when this process last wrote to each (`touched`): retention leaves a
    partition written within its grace period for a later sweep (see `recently_written`), so
    late rows of an expired day (a replay, a backlog) stay readable a while rather than vanish
    under their writer; they go at a later sweep.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._known: set[tuple[str, date]] = set()
        self._touched: dict[tuple[str, date], float] = {}
        self._clock = clock

    async def ensure(
        self, db: Database, days: Iterable[date], *, parent: str = PREDICTIONS
    ) -> None:
        now = self._clock()
        wanted = {(parent, day) for day in days}
        for key in wanted:
            self._touched[key] = now
        for key in sorted(wanted - self._known):
            await _create(db, DayPartition(key[1], key[0]))
            self._known.add(key)

    def forget(self, days: Iterable[date] | None = None, *, parent: str | None = None) -> None:
        """Stop trusting the memory (all days, or some; of one parent or both): a partition was
        dropped meanwhile."""
        if days is None:
            forgotten = {key for key in self._known if parent is None or key[0] == parent}
        else:
            parents = PARENTS if parent is None else (parent,)
            forgotten = {(name, day) for name in parents for day in days}
        self._known.difference_update(forgotten)
        for key in forgotten:
            self._touched.pop(key, None)

    def recently_written(self, partition: DayPartition, *, within: float) -> bool:
        """Whether this process wrote to the partition in the last `within` seconds."""
        at = self._touched.get((partition.parent, partition.day))
        return at is not None and self._clock() - at < within


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
    partitions.forget(days, parent=PREDICTIONS)  # dropped since we made it (retention): again
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
