"""Gateway use cases that are not tied to one route."""

from __future__ import annotations

import hashlib

from mloop_common import outbox
from mloop_common.db.engine import Database
from mloop_common.db.models import ApiKey
from mloop_common.messages.events import KeysChanged
from sqlalchemy import select

SERVICE = "gateway"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def ensure_admin_key(db: Database, secret: str) -> None:
    """Register the bootstrap admin key (idempotent); announce it with `KeysChanged`."""
    key_hash = hash_key(secret)
    async with db.transaction() as session:
        if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)):
            return
        key = ApiKey(name="bootstrap admin", role="admin", key_hash=key_hash, prefix=secret[:8])
        session.add(key)
        await session.flush()
        outbox.stage(
            session,
            service=SERVICE,
            message=KeysChanged(key_id=key.id, role=key.role, key_hash=key_hash),
        )
        await session.commit()
