"""Retention in Postgres: the daily partitions of a log, and dropping one whole.

A drop takes an exclusive lock on the parent table for a moment; `lock_timeout` keeps it from
queueing behind (and in front of) the hot path's inserts for long: a drop that cannot get its
lock soon gives up and is tried again at the next sweep.
"""

from __future__ import annotations

from mloop_common.db.engine import Database
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mloop_monitor.domain.partitions import DayPartition, parse

LOCK_TIMEOUT = "2s"
LOCK_NOT_AVAILABLE = "55P03"

PARTITIONS = text(
    """
    SELECT child.relname
    FROM pg_inherits
    JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid
    JOIN pg_class AS parent ON parent.oid = pg_inherits.inhparent
    WHERE parent.relname = :parent
    """
)


async def partitions_of(db: Database, parent: str) -> list[DayPartition]:
    """The day partitions `parent` has now (other tables attached to it are ignored)."""
    async with db.transaction() as session:
        names = (await session.scalars(PARTITIONS, {"parent": parent})).all()
    found = (parse(name) for name in names)
    return [partition for partition in found if partition and partition.parent == parent]


async def drop(db: Database, partition: DayPartition) -> bool:
    """Drop the partition; False when its lock could not be had in time (try again later)."""
    try:
        async with db.transaction() as session:
            await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            await session.execute(text(partition.drop_sql()))
            await session.commit()
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        return False
    return True
