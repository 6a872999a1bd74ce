"""Long work under leases: queued rows are claimed with `FOR UPDATE SKIP LOCKED`, kept alive
by heartbeats, and re-queued by a reconciler when a worker stops renewing them.

A table of long work (training runs, batch jobs) mixes in `LeasedWork`. The consumer of the
command only inserts the row (status `queued`) and commits its offset; any number of workers
then share the rows, whatever the partitioning.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import DateTime, Integer, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db.engine import Database

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"


class LeasedWork:
    """Columns of a leased work item; mix into a mapped class with its own primary key `id`."""

    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)


W = TypeVar("W", bound=LeasedWork)


class LeaseLost(Exception):
    """The lease expired and was taken over; the holder must stop and record nothing."""


def _now() -> datetime:
    return datetime.now(UTC)


async def claim(
    db: Database, model: type[W], *, owner: str, ttl: float, order_by: Any = None
) -> W | None:
    """Claim the first queued item (by `order_by`, default the id), or None. Concurrent
    claimers never get the same item."""
    async with db.transaction() as session:
        item = await session.scalar(
            select(model)
            .where(model.status == QUEUED)
            .order_by(order_by if order_by is not None else model.id)  # type: ignore[attr-defined]
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if item is None:
            return None
        item.status = RUNNING
        item.lease_owner = owner
        item.lease_expires_at = _now() + timedelta(seconds=ttl)
        item.attempts += 1
        await session.commit()
        return item


async def renew(db: Database, model: type[W], item_id: Any, *, owner: str, ttl: float) -> None:
    """Extend the lease; raises LeaseLost when another worker owns the item now."""
    async with db.transaction() as session:
        result = await session.execute(
            update(model)
            .where(model.id == item_id)  # type: ignore[attr-defined]
            .where(model.status == RUNNING, model.lease_owner == owner)
            .values(lease_expires_at=_now() + timedelta(seconds=ttl))
        )
        await session.commit()
    if result.rowcount != 1:
        raise LeaseLost(item_id)


async def finish(
    db: Database, model: type[W], item_id: Any, *, owner: str, status: str, **values: Any
) -> None:
    """Record the outcome, only while still holding the lease."""
    async with db.transaction() as session:
        result = await session.execute(
            update(model)
            .where(model.id == item_id)  # type: ignore[attr-defined]
            .where(model.status == RUNNING, model.lease_owner == owner)
            .values(status=status, lease_owner=None, lease_expires_at=None, **values)
        )
        await session.commit()
    if result.rowcount != 1:
        raise LeaseLost(item_id)


async def requeue_expired(db: Database, model: type[W]) -> int:
    """Reconciler: put running items whose lease expired back in the queue."""
    async with db.transaction() as session:
        result = await session.execute(
            update(model)
            .where(model.status == RUNNING, model.lease_expires_at < _now())
            .values(status=QUEUED, lease_owner=None, lease_expires_at=None)
        )
        await session.commit()
    return result.rowcount


async def take_expired(
    session: AsyncSession, model: type[W], *, max_attempts: int
) -> tuple[list[W], list[W]]:
    """Reconciler, in the caller's transaction: lock the running items whose lease expired
    (skipping rows another reconciler holds), clear their leases, and queue again those started
    fewer than `max_attempts` times; the others are marked failed. Returns (requeued, failed);
    the caller records why the failed ones failed, then commits."""
    expired = (
        await session.scalars(
            select(model)
            .where(model.status == RUNNING, model.lease_expires_at < _now())
            .with_for_update(skip_locked=True)
        )
    ).all()
    requeued: list[W] = []
    failed: list[W] = []
    for item in expired:
        item.lease_owner = item.lease_expires_at = None
        if item.attempts >= max_attempts:
            item.status = FAILED
            failed.append(item)
        else:
            item.status = QUEUED
            requeued.append(item)
    return requeued, failed


@contextlib.asynccontextmanager
async def held(
    db: Database, model: type[W], item_id: Any, *, owner: str, ttl: float
) -> AsyncIterator[asyncio.Task[None]]:
    """Renew the lease every ttl/3 seconds while the body runs.

    Yields the heartbeat task; it ends with LeaseLost if the lease was taken over, which the
    body can check (`task.done()`) before recording results."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            await renew(db, model, item_id, owner=owner, ttl=ttl)

    task = asyncio.create_task(beat())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeaseLost):
            await task
