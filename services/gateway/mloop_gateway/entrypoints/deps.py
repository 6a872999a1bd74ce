"""Request dependencies: the caller's API key and its role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from mloop_common.db.models import ApiKey
from mloop_common.problems import Problem
from sqlalchemy import select

from mloop_gateway.handlers import hash_key

bearer = HTTPBearer(auto_error=False)


async def current_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    if credentials is None:
        raise Problem(401, "Unauthorized", "Send an API key as `Authorization: Bearer <key>`.")
    async with request.app.state.runtime.db.transaction() as session:
        key = await session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_key(credentials.credentials))
        )
    if key is None or key.revoked_at is not None:
        raise Problem(401, "Unauthorized", "The API key is unknown or revoked.")
    return key


async def admin_key(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
    if key.role != "admin":
        raise Problem(403, "Forbidden", "This needs an admin key.")
    return key


AdminKey = Annotated[ApiKey, Depends(admin_key)]
