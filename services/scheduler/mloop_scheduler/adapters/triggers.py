"""The scheduler's side of the trigger tables in Postgres.

It reads the trigger definitions the gateway wrote, locks the ones it fires (`FOR UPDATE`: one
firing of a trigger at a time, whichever consumer or replica), writes their clock columns and
records every firing. Retrains of one scenario are decided one at a time under a transaction
advisory lock, so two triggers firing together cannot both pass the cap.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mloop_common.db.triggers import PERFORMANCE, SCHEDULE, Trigger, TriggerFiring
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.domain.triggers import Cause


async def enabled_triggers(
    session: AsyncSession, scenario_id: uuid.UUID, kind: str
) -> Sequence[Trigger]:
    """The scenario's enabled triggers of a kind, locked until commit (in id order, so two
    transactions lock them in the same order)."""
    return (
        await session.scalars(
            select(Trigger)
            .where(Trigger.scenario_id == scenario_id, Trigger.kind == kind, Trigger.enabled)
            .order_by(Trigger.id)
            .with_for_update()
        )
    ).all()


async def lock_retrains(session: AsyncSession, scenario_id: uuid.UUID) -> None:
    """Hold the scenario's retrain decisions until commit."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"retrain:{scenario_id}")))
    )


async def has_fired(session: AsyncSession, trigger_id: uuid.UUID, key: str) -> bool:
    found = await session.scalar(
        select(TriggerFiring.id).where(
            TriggerFiring.trigger_id == trigger_id, TriggerFiring.dedup_key == key
        )
    )
    return found is not None


def record_firing(
    session: AsyncSession,
    trigger: Trigger,
    cause: Cause,
    *,
    at: datetime,
    outcome: str,
    run_id: uuid.UUID | None = None,
    workflow_run_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> TriggerFiring:
    firing = TriggerFiring(
        id=uuid.uuid4(),
        trigger_id=trigger.id,
        scenario_id=trigger.scenario_id,
        at=at,
        kind=trigger.kind,
        reason=cause.reason,
        outcome=outcome,
        dedup_key=cause.key,
        run_id=run_id,
        workflow_run_id=workflow_run_id,
        detail={**cause.detail, **(detail or {})},
    )
    session.add(firing)
    return firing


async def due_schedules(session: AsyncSession, now: datetime, *, limit: int) -> list[uuid.UUID]:
    """Enabled schedule triggers whose next slot has come (or was never computed)."""
    rows = await session.scalars(
        select(Trigger.id)
        .where(
            Trigger.kind == SCHEDULE,
            Trigger.enabled,
            or_(Trigger.next_fire_at.is_(None), Trigger.next_fire_at <= now),
        )
        .order_by(Trigger.next_fire_at.nulls_first())
        .limit(limit)
    )
    return list(rows.all())


async def claim(session: AsyncSession, trigger_id: uuid.UUID) -> Trigger | None:
    """The trigger locked until commit, or None when gone or another transaction holds it."""
    return await session.scalar(
        select(Trigger).where(Trigger.id == trigger_id).with_for_update(skip_locked=True)
    )


async def performance_triggers(session: AsyncSession, *, limit: int) -> Sequence[Trigger]:
    return (
        await session.scalars(
            select(Trigger)
            .where(Trigger.kind == PERFORMANCE, Trigger.enabled)
            .order_by(Trigger.id)
            .limit(limit)
        )
    ).all()


async def last_firing_at(session: AsyncSession, trigger_id: uuid.UUID) -> datetime | None:
    return await session.scalar(
        select(func.max(TriggerFiring.at)).where(TriggerFiring.trigger_id == trigger_id)
    )
