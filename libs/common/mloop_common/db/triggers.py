"""Retraining triggers and their firings.

The gateway writes trigger definitions (`triggers`: created, changed and deleted through the
API). The scheduler reads them and writes what happens: every firing (`trigger_firings`) with
its reason and outcome, in the transaction of the retrain it starts, and a trigger's clock
columns (`last_fired_at`, `next_fire_at`). The gateway writes `next_fire_at` only when an edit
changes a schedule or switches it back on (the next slot after the edit, so the edit never
fires a slot that passed meanwhile).

A firing is unique per (trigger, dedup key): the key is the id of the event that caused it, or
the schedule slot it fills, so the same cause never fires a trigger twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db import catalog  # noqa: F401  (the tables its foreign keys name)
from mloop_common.db.models import Base
from mloop_common.db.paging import Position, newest_first

SCHEDULE, DRIFT, PERFORMANCE, NEW_DATA = "schedule", "drift", "performance", "new_data"
KINDS: tuple[str, ...] = (SCHEDULE, DRIFT, PERFORMANCE, NEW_DATA)
# Outcomes of a firing: a retrain started; nothing started, because the trigger fired within its
# cooldown, the scenario has its maximum of retrains under way, the same champion was already
# retrained on the same data by this trigger, the retrain could not be built, or the cause is
# one triggers do not act on (a dataset version a workflow made: it would retrain in a loop).
STARTED, COOLDOWN, CAPPED, DUPLICATE, FAILED, SKIPPED = (
    "started",
    "cooldown",
    "capped",
    "duplicate",
    "failed",
    "skipped",
)
OUTCOMES: tuple[str, ...] = (STARTED, COOLDOWN, CAPPED, DUPLICATE, FAILED, SKIPPED)


# --- written by the gateway (the definition) and the scheduler (its clock) ---


class Trigger(Base):
    __tablename__ = "triggers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    cooldown_seconds: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Written by the scheduler: the moment of the last firing that started a retrain (the slot
    # time for a schedule), and a schedule's next slot.
    last_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("scenario_id", "name"),
        Index("ix_triggers_clock", "kind", "next_fire_at"),
    )


# --- written by the scheduler ---


class TriggerFiring(Base):
    __tablename__ = "trigger_firings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    trigger_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    scenario_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    dedup_key: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    workflow_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (
        UniqueConstraint("trigger_id", "dedup_key"),
        Index("ix_trigger_firings_page", "trigger_id", "at", "id"),
        Index("ix_trigger_firings_scenario", "scenario_id", "outcome", "at"),
    )


# --- reads (the gateway shows them; the scheduler decides with them) ---


@dataclass(frozen=True)
class TriggerView:
    trigger: Trigger
    last_firing: TriggerFiring | None


async def last_firings(
    session: AsyncSession, trigger_ids: list[uuid.UUID]
) -> dict[uuid.UUID, TriggerFiring]:
    """The newest firing of each trigger that has one."""
    if not trigger_ids:
        return {}
    rows = await session.scalars(
        select(TriggerFiring)
        .where(TriggerFiring.trigger_id.in_(trigger_ids))
        .distinct(TriggerFiring.trigger_id)
        .order_by(TriggerFiring.trigger_id, TriggerFiring.at.desc(), TriggerFiring.id.desc())
    )
    return {row.trigger_id: row for row in rows}


async def scenario_triggers(session: AsyncSession, scenario_id: uuid.UUID) -> list[TriggerView]:
    """A scenario's triggers by name, each with its newest firing."""
    found = list(
        (
            await session.scalars(
                select(Trigger).where(Trigger.scenario_id == scenario_id).order_by(Trigger.name)
            )
        ).all()
    )
    last = await last_firings(session, [row.id for row in found])
    return [TriggerView(row, last.get(row.id)) for row in found]


async def firings_page(
    session: AsyncSession, trigger_id: uuid.UUID, *, limit: int, after: Position | None = None
) -> list[TriggerFiring]:
    """A trigger's firings, newest first (keyset paging on at, id)."""
    query = newest_first(
        select(TriggerFiring).where(TriggerFiring.trigger_id == trigger_id),
        TriggerFiring.at,
        TriggerFiring.id,
        after=after,
        limit=limit,
    )
    return list((await session.scalars(query)).all())
