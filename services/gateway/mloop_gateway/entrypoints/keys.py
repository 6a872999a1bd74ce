"""`/api/keys`: create, list and revoke API keys (admins only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from mloop_gateway import handlers
from mloop_gateway.entrypoints.deps import AdminKey

router = APIRouter(prefix="/api/keys", tags=["keys"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: Literal["admin", "editor", "viewer", "predictor"]


class KeyPublic(BaseModel):
    id: uuid.UUID
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret; shown once, never stored.")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(body: KeyCreate, request: Request, caller: AdminKey) -> KeyCreated:
    key, secret = await handlers.create_key(
        request.app.state.runtime, name=body.name, role=body.role
    )
    return KeyCreated(
        **KeyPublic.model_validate(key, from_attributes=True).model_dump(), key=secret
    )


@router.get("", response_model=list[KeyPublic])
async def list_keys(request: Request, caller: AdminKey) -> list[KeyPublic]:
    keys = await handlers.list_keys(request.app.state.runtime.db)
    return [KeyPublic.model_validate(key, from_attributes=True) for key in keys]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: uuid.UUID, request: Request, caller: AdminKey) -> None:
    await handlers.revoke_key(request.app.state.runtime, key_id=key_id)
