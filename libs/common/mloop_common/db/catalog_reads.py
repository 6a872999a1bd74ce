"""Read queries over the data catalogue (any service may call them; the gateway writes)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_common.db.catalog import DatasetVersion


async def latest_dataset(
    session: AsyncSession, scenario_id: uuid.UUID, path: str
) -> DatasetVersion | None:
    """The newest version stored at the scenario's data path (None when nothing is)."""
    return await session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.scenario_id == scenario_id, DatasetVersion.path == path)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )
