"""The daily partitions of the prediction and feedback logs (pure): which day a moment falls in,
the name and bounds of a day's partition of either parent table, and which partitions retention
drops.

Both logs are RANGE-partitioned on `predicted_at` (the moment inside the signed prediction id),
one partition a UTC day, named `<parent>_YYYYMMDD`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PREDICTIONS = "predictions"
FEEDBACK = "feedback"
PARENTS = (PREDICTIONS, FEEDBACK)
PARENT = PREDICTIONS  # the default parent (the prediction log came first)

_NAME = re.compile(r"^(?P<parent>[a-z_]+)_(?P<day>\d{8})$")


@dataclass(frozen=True)
class DayPartition:
    """The partition of `parent` holding the rows predicted on `day` (UTC): [start, end)."""

    day: date
    parent: str = PREDICTIONS

    def __post_init__(self) -> None:
        if self.parent not in PARENTS:  # names are inlined in DDL: only known parents
            raise ValueError(f"unknown partitioned table {self.parent!r}")

    @property
    def name(self) -> str:
        return f"{self.parent}_{self.day:%Y%m%d}"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(), UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    def create_sql(self) -> str:
        """DDL creating the partition unless it exists (the name is a known parent and digits:
        safe to inline)."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} PARTITION OF {self.parent} "
            f"FOR VALUES FROM ('{self.start.isoformat()}') TO ('{self.end.isoformat()}')"
        )

    def drop_sql(self) -> str:
        """DDL dropping the whole partition (retention: never row by row)."""
        return f"DROP TABLE IF EXISTS {self.name}"


def day_of(at: datetime) -> date:
    """The UTC day of an aware moment."""
    return at.astimezone(UTC).date()


def parse(name: str) -> DayPartition | None:
    """The day partition a table name stands for, or None for any other table."""
    found = _NAME.match(name)
    if found is None or found["parent"] not in PARENTS:
        return None
    try:
        day = datetime.strptime(found["day"], "%Y%m%d").date()
    except ValueError:
        return None
    return DayPartition(day, found["parent"])


def horizon(now: datetime, retention_days: int) -> datetime:
    """The oldest moment still kept: rows predicted before it are past retention."""
    return now - timedelta(days=retention_days)


def expired(
    partitions: Iterable[DayPartition], *, now: datetime, retention_days: int
) -> list[DayPartition]:
    """The partitions whose whole day is past retention (oldest first)."""
    limit = horizon(now, retention_days)
    return sorted(
        (partition for partition in partitions if partition.end <= limit),
        key=lambda partition: (partition.day, partition.parent),
    )
