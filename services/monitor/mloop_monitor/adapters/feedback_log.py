"""The feedback log in Postgres: a batch stored with one statement, feedback that outlived its
time-to-live taken out, a scenario's feedback deleted, and the scenarios' task types cached.

`store` writes a whole batch with one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE`
into the daily partitions of `feedback` (made first, as for predictions). The update only
happens when the incoming `received_at` is not older than the stored one, so the last write wins
whatever order batches are stored in, and storing the same batch twice gives the same rows:
the path is idempotent by nature and keeps no processed-message record.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from mloop_common.db.engine import Database
from mloop_common.db.feedback import task_types
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_monitor.adapters.prediction_log import NO_PARTITION, Partitions
from mloop_monitor.domain.feedback import FeedbackRow
from mloop_monitor.domain.partitions import FEEDBACK, day_of

# Sent with asyncpg itself (one statement, atomic on its own): this is the hot path, and going
# around SQLAlchemy's parameter handling makes it a quarter faster.
INSERT = """
    INSERT INTO feedback
        (predicted_at, scenario_id, prediction_id, actual, received_at, source)
    SELECT r.predicted_at, r.scenario_id, r.prediction_id, CAST(r.actual AS jsonb),
           r.received_at, $6
    FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
        AS r(predicted_at, scenario_id, prediction_id, actual, received_at)
    ON CONFLICT (predicted_at, scenario_id, prediction_id) DO UPDATE
    SET actual = EXCLUDED.actual, received_at = EXCLUDED.received_at, source = EXCLUDED.source
    WHERE EXCLUDED.received_at >= feedback.received_at
"""

# Feedback received before `cutoff` whose prediction is not in the log, taken out (locked rows
# are skipped: another replica's sweep or a write holds them; they are looked at next time).
TAKE_ORPHANS = text(
    """
    DELETE FROM feedback AS f
    USING (
        SELECT g.predicted_at, g.scenario_id, g.prediction_id
        FROM feedback AS g
        WHERE g.received_at < :cutoff
          AND NOT EXISTS (
              SELECT 1 FROM predictions AS p
              WHERE p.predicted_at = g.predicted_at
                AND p.prediction_id = g.prediction_id
                AND p.scenario_id = g.scenario_id
          )
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) AS o
    WHERE f.predicted_at = o.predicted_at
      AND f.scenario_id = o.scenario_id
      AND f.prediction_id = o.prediction_id
    RETURNING f.scenario_id, f.prediction_id, CAST(f.actual AS text) AS actual,
              f.received_at, f.source
    """
)


@dataclass(frozen=True)
class Orphan:
    """Feedback taken out of the log because its prediction never came."""

    scenario_id: uuid.UUID
    prediction_id: str
    actual: str  # JSON text
    received_at: datetime
    source: str


async def store(
    db: Database, partitions: Partitions, rows: Sequence[FeedbackRow], *, source: str
) -> int:
    """Write the rows (de-duplicated by the caller) with one statement; how many were written
    (inserted, or updated by a newer write)."""
    if not rows:
        return 0
    days = {day_of(row.predicted_at) for row in rows}
    await partitions.ensure(db, days, parent=FEEDBACK)
    try:
        return await _insert(db, rows, source)
    except asyncpg.PostgresError as error:
        if getattr(error, "sqlstate", None) != NO_PARTITION:
            raise
    partitions.forget(days, parent=FEEDBACK)  # dropped since we made it (retention): again
    await partitions.ensure(db, days, parent=FEEDBACK)
    return await _insert(db, rows, source)


async def _insert(db: Database, rows: Sequence[FeedbackRow], source: str) -> int:
    async with db.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        status = await driver.execute(
            INSERT,
            [row.predicted_at for row in rows],
            [row.scenario_id for row in rows],
            [row.prediction_id for row in rows],
            [row.actual for row in rows],
            [row.received_at for row in rows],
            source,
        )
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <n>"


async def take_orphans(session: AsyncSession, *, cutoff: datetime, limit: int) -> list[Orphan]:
    """Delete (in the caller's transaction, not committed) up to `limit` rows of feedback
    received before `cutoff` whose prediction is not logged, and return them."""
    result = await session.execute(TAKE_ORPHANS, {"cutoff": cutoff, "limit": limit})
    return [Orphan(*row) for row in result.all()]


async def delete_scenario_feedback(
    db: Database, *, scenario_id: uuid.UUID, predicted_before: datetime | None
) -> int:
    """Delete a scenario's feedback on predictions made before a moment (all for None)."""
    query = "DELETE FROM feedback WHERE scenario_id = :sid"
    params: dict[str, object] = {"sid": scenario_id}
    if predicted_before is not None:
        query += " AND predicted_at < :before"
        params["before"] = predicted_before
    async with db.transaction() as session:
        result = await session.execute(text(query), params)
        await session.commit()
    return result.rowcount


class ScenarioTasks:
    """The task type of each scenario seen (it never changes), loaded once per scenario: a
    batch costs at most one query, for the scenarios it is the first to name. Scenarios not
    found are not remembered (one created later is found then)."""

    def __init__(self) -> None:
        self._known: dict[uuid.UUID, str] = {}

    async def of(self, db: Database, scenario_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        missing = [sid for sid in set(scenario_ids) if sid not in self._known]
        if missing:
            async with db.transaction() as session:
                self._known.update(await task_types(session, missing))
        return self._known

    def forget(self, scenario_id: uuid.UUID) -> None:
        self._known.pop(scenario_id, None)
