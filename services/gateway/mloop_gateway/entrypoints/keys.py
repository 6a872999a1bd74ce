"""`/api/keys`: create, list and revoke API keys (admins only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from mloop_gateway.entrypoints.deps import Admin, Ctx
from mloop_gateway.entrypoints.schemas import KeyCreate, KeyCreated, KeyPublic, Page
from mloop_gateway.handlers import keys

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(body: KeyCreate, gw: Ctx, caller: Admin) -> KeyCreated:
    key, secret = await keys.create_key(
        gw, caller, name=body.name, role=body.role, scenarios=body.scenarios
    )
    return KeyCreated(**KeyPublic.model_validate(key).model_dump(), key=secret)


@router.get("", response_model=Page[KeyPublic])
async def list_keys(gw: Ctx, caller: Admin) -> Page[KeyPublic]:
    found = await keys.list_keys(gw)
    return Page(items=[KeyPublic.model_validate(key) for key in found], next_cursor=None)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: uuid.UUID, gw: Ctx, caller: Admin) -> None:
    await keys.revoke_key(gw, caller, key_id=key_id)
