"""`/api/audit`: the audit log, newest first (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from mloop_common.problems import invalid

from mloop_gateway.entrypoints.deps import Admin, Ctx
from mloop_gateway.entrypoints.schemas import AuditPublic, Page
from mloop_gateway.handlers import audit

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=Page[AuditPublic])
async def list_audit(
    gw: Ctx,
    caller: Admin,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    scenario_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditPublic]:
    if cursor is not None and not cursor.isdigit():
        raise invalid(["query", "cursor"], "the cursor is not one this API returned", "cursor")
    entries = await audit.list_entries(
        gw,
        limit=limit,
        before_id=int(cursor) if cursor else None,
        scenario_id=scenario_id,
        action=action,
    )
    next_cursor = str(entries[-1].id) if len(entries) == limit else None
    return Page(items=[AuditPublic.model_validate(e) for e in entries], next_cursor=next_cursor)
