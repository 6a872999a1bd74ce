"""The audit log: who (which key) changed what, and when."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from mloop_common.db.catalog import AuditEntry
from mloop_common.keyring import Grant
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import Gateway


def record(
    session: AsyncSession,
    grant: Grant | None,
    *,
    action: str,
    resource: str,
    resource_id: object,
    scenario_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry to the caller's unit of work; it commits with the change it describes."""
    session.add(
        AuditEntry(
            key_id=grant.key_id if grant else None,
            key_name=grant.name if grant else "system",
            action=action,
            resource=resource,
            resource_id=str(resource_id),
            scenario_id=scenario_id,
            detail=detail or {},
        )
    )


async def list_entries(
    gw: Gateway,
    *,
    limit: int,
    before_id: int | None,
    scenario_id: uuid.UUID | None,
    action: str | None,
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if scenario_id is not None:
        query = query.where(AuditEntry.scenario_id == scenario_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    async with gw.db.transaction() as session:
        return (await session.scalars(query)).all()
