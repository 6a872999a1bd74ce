"""The floor of the feedback benchmark: a bare script draining the feedback topic into the same
`feedback` table (same unique key) with nothing but aiokafka `getmany` -> orjson -> asyncpg COPY.

No checks beyond what the table needs: the moment inside the prediction id is read for the
partition key, not verified; no task types, no dead letters, no de-duplication (the benchmark's
messages have unique ids, so COPY straight into the table keeps the unique key). Each batch is
one COPY statement (atomic on its own), then its offsets are committed, as the monitor does.
Like the monitor, it freezes what its start-up allocated out of the garbage collector's sight
(without it, full collections walk those objects again and again: a floor a fifth slower).

`python -m bench.bare_feedback BOOTSTRAP TOPIC DATABASE_URL GROUP EXPECTED [BATCH]` prints one
line of JSON: rows, seconds (first batch received to last commit) and rows per second.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import uuid
from datetime import UTC, date, datetime

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer
from mloop_common.prediction_ids import issued_at

COLUMNS = ("predicted_at", "scenario_id", "prediction_id", "actual", "received_at", "source")


def plain_dsn(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+asyncpg://...`) as asyncpg takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_day(connection: asyncpg.Connection, key: date, made: set[date]) -> None:
    if key in made:
        return
    start = datetime(key.year, key.month, key.day, tzinfo=UTC)
    end = datetime.fromtimestamp(start.timestamp() + 86400, UTC)
    await connection.execute(
        f"CREATE TABLE IF NOT EXISTS feedback_{key:%Y%m%d} PARTITION OF feedback "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
    made.add(key)


async def drain(
    bootstrap: str, topic: str, database_url: str, group: str, expected: int, batch: int
) -> dict[str, float]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    gc.collect()  # start-up's objects out of the collector's sight, as the monitor does
    gc.freeze()
    made: set[date] = set()
    uuids: dict[str, uuid.UUID] = {}
    rows_done, started = 0, None
    try:
        while rows_done < expected:
            fetched = await consumer.getmany(timeout_ms=200, max_records=batch)
            if not fetched:
                continue
            if started is None:
                started = time.perf_counter()
            rows = []
            for records in fetched.values():
                for record in records:
                    body = orjson.loads(record.value)
                    sid = uuids.get(body["scenario_id"])
                    if sid is None:
                        sid = uuids[body["scenario_id"]] = uuid.UUID(body["scenario_id"])
                    rows.append(
                        (
                            issued_at(body["prediction_id"]),
                            sid,
                            body["prediction_id"],
                            orjson.dumps(body["actual"]).decode(),
                            datetime.fromtimestamp(record.timestamp / 1000, UTC),
                            "topic",
                        )
                    )
            for day in {row[0].date() for row in rows}:
                await ensure_day(connection, day, made)
            # One statement, atomic on its own (as the monitor's): no BEGIN / COMMIT round trips.
            await connection.copy_records_to_table("feedback", records=rows, columns=COLUMNS)
            await consumer.commit()
            rows_done += len(rows)
        seconds = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await connection.close()
    return {"rows": rows_done, "seconds": seconds, "rows_per_s": rows_done / max(seconds, 1e-9)}


def main() -> None:
    bootstrap, topic, database_url, group, expected = sys.argv[1:6]
    batch = int(sys.argv[6]) if len(sys.argv) > 6 else 5000
    found = asyncio.run(drain(bootstrap, topic, database_url, group, int(expected), batch))
    print(json.dumps(found))


if __name__ == "__main__":
    main()
