"""The feedback log in Postgres: batches stored, feedback that outlived its time-to-live taken
out, a scenario's feedback deleted, and the scenarios' task types cached.

`FeedbackWriter.store` writes a whole batch into the daily partitions of `feedback` (made first,
as for predictions) in one statement. Nearly always every row is new, and then the batch goes
in with COPY (binary, one statement: all or nothing), the fastest way into Postgres. When
one of its keys is stored already (a batch delivered again after a crash, feedback corrected,
another replica), COPY fails on the primary key and changes nothing; the batch is then written
with `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE`, whose update only happens when
the incoming `received_at` is not older than the stored one: the last write wins whatever order
batches are stored in, and storing the same batch twice gives the same rows. The path is
idempotent by nature and keeps no processed-message record. After a conflict the next batches
go straight to the upsert for a while (a replay is a run of such batches), then COPY is tried
again.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

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
COLUMNS = ("predicted_at", "scenario_id", "prediction_id", "actual", "received_at", "source")
UPSERT = """
    INSERT INTO feedback
        (predicted_at, scenario_id, prediction_id, actual, received_at, source)
    SELECT r.predicted_at, r.scenario_id, r.prediction_id, CAST(r.actual AS jsonb),
           r.received_at, r.source
    FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
                $6::text[])
        AS r(predicted_at, scenario_id, prediction_id, actual, received_at, source)
    ON CONFLICT (predicted_at, scenario_id, prediction_id) DO UPDATE
    SET actual = EXCLUDED.actual, received_at = EXCLUDED.received_at, source = EXCLUDED.source
    WHERE EXCLUDED.received_at >= feedback.received_at
"""
# Batches written with the upsert after one whose COPY met a stored key.
UPSERT_AFTER_CONFLICT = 20

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


class FeedbackWriter:
    """Stores batches of feedback rows (see the module's note): COPY, or the upsert."""

    def __init__(self, db: Database, partitions: Partitions) -> None:
        self.db, self.partitions = db, partitions
        self.upserts_left = 0  # batches still to write with the upsert after a conflict

    async def store(self, rows: Sequence[FeedbackRow]) -> int:
        """Write the rows (de-duplicated by the caller); how many were written (inserted, or
        updated by a newer write)."""
        if not rows:
            return 0
        days = _days(rows)
        await self.partitions.ensure(self.db, days, parent=FEEDBACK)
        try:
            return await self._write(rows)
        except asyncpg.PostgresError as error:
            if getattr(error, "sqlstate", None) != NO_PARTITION:
                raise
        # A partition dropped since we made it (retention): make it again.
        self.partitions.forget(days, parent=FEEDBACK)
        await self.partitions.ensure(self.db, days, parent=FEEDBACK)
        return await self._write(rows)

    async def _write(self, rows: Sequence[FeedbackRow]) -> int:
        async with self.db.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            if self.upserts_left > 0:
                self.upserts_left -= 1
            else:
                try:  # one statement: atomic on its own
                    status = await driver.copy_records_to_table(
                        "feedback", records=rows, columns=COLUMNS
                    )
                    return int(status.rsplit(" ", 1)[-1])  # "COPY <n>"
                except asyncpg.UniqueViolationError:
                    self.upserts_left = UPSERT_AFTER_CONFLICT
            status = await driver.execute(UPSERT, *zip(*rows, strict=True))
        return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <n>"


def _days(rows: Sequence[FeedbackRow]) -> set[date]:
    """The UTC days the rows fall in (most batches: one)."""
    moments = [row.predicted_at for row in rows]
    first, last = day_of(min(moments)), day_of(max(moments))
    return {first} if first == last else {day_of(at) for at in moments}


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
