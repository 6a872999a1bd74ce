"""Gateway use cases that are not tied to one route."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from mloop_common import outbox
from mloop_common.db.engine import Database
from mloop_common.db.models import ApiKey
from mloop_common.messages.events import KeysChanged
from mloop_common.problems import Problem
from mloop_common.runtime import ServiceRuntime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

SERVICE = "gateway"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _announce(session: AsyncSession, key: ApiKey) -> None:
    outbox.stage(
        session,
        service=SERVICE,
        message=KeysChanged(
            key_id=key.id, role=key.role, key_hash=key.key_hash, revoked=key.revoked_at is not None
        ),
    )


async def ensure_admin_key(db: Database, secret: str) -> None:
    """Register the bootstrap admin key (idempotent); announce it with `KeysChanged`."""
    key_hash = hash_key(secret)
    async with db.transaction() as session:
        if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)):
            return
        key = ApiKey(
            id=uuid.uuid4(),
            name="bootstrap admin",
            role="admin",
            key_hash=key_hash,
            prefix=secret[:8],
        )
        session.add(key)
        _announce(session, key)
        await session.commit()


async def create_key(runtime: ServiceRuntime, *, name: str, role: str) -> tuple[ApiKey, str]:
    secret = "mlk_" + secrets.token_urlsafe(32)
    async with runtime.db.transaction() as session:
        key = ApiKey(
            id=uuid.uuid4(),
            name=name,
            role=role,
            key_hash=hash_key(secret),
            prefix=secret[:8],
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        session.add(key)
        _announce(session, key)
        await session.commit()
    runtime.relay.notify()
    return key, secret


async def list_keys(db: Database) -> Sequence[ApiKey]:
    async with db.transaction() as session:
        return (await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()


async def revoke_key(runtime: ServiceRuntime, *, key_id: uuid.UUID) -> None:
    async with runtime.db.transaction() as session:
        key = await session.get(ApiKey, key_id, with_for_update=True)
        if key is None:
            raise Problem(404, "Not found", f"No API key {key_id}.")
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            _announce(session, key)
            await session.commit()
    runtime.relay.notify()
