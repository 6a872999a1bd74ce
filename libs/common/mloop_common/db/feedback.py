"""The feedback log, written by the monitor.

Range-partitioned by `predicted_at` like `predictions` (a partition a day, made by the monitor as
needed, dropped whole by retention). `predicted_at` is the time inside the signed prediction id,
so feedback lands in the partition of its prediction without looking the prediction up, and the
join of the two logs is partition by partition. One row per (scenario, prediction): the last
feedback received wins.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, PrimaryKeyConstraint, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db.models import Base


class Feedback(Base):
    __tablename__ = "feedback"

    predicted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scenario_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    prediction_id: Mapped[str] = mapped_column(String(64))
    actual: Mapped[Any] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16))  # api or topic

    __table_args__ = (
        PrimaryKeyConstraint("predicted_at", "scenario_id", "prediction_id"),
        Index("ix_feedback_received", "received_at"),
        {"postgresql_partition_by": "RANGE (predicted_at)"},
    )
