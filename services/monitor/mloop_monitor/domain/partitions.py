"""The prediction log's daily partitions (pure): which day a moment falls in, and the name and
bounds of that day's partition of `predictions`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PARENT = "predictions"


@dataclass(frozen=True)
class DayPartition:
    """The partition holding the predictions made on `day` (UTC): [start, end)."""

    day: date

    @property
    def name(self) -> str:
        return f"{PARENT}_{self.day:%Y%m%d}"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(), UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    def create_sql(self) -> str:
        """DDL creating the partition unless it exists (the name is digits only: safe to inline)."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{self.start.isoformat()}') TO ('{self.end.isoformat()}')"
        )


def day_of(at: datetime) -> date:
    """The UTC day of an aware moment."""
    return at.astimezone(UTC).date()
