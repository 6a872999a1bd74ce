"""API keys: created, listed and revoked by admins; every change is announced by `KeysChanged`."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from mloop_common import outbox
from mloop_common.db.catalog import Scenario
from mloop_common.db.engine import Database
from mloop_common.db.models import ApiKey
from mloop_common.keyring import Grant, hash_key
from mloop_common.messages.events import KeysChanged
from mloop_common.problems import Problem, invalid, not_found
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import SERVICE, Gateway
from mloop_gateway.handlers import audit


def _announce(session: AsyncSession, key: ApiKey) -> KeysChanged:
    change = KeysChanged(
        key_id=key.id,
        role=key.role,
        key_hash=key.key_hash,
        revoked=key.revoked_at is not None,
        name=key.name,
        scenarios=[uuid.UUID(value) for value in key.scenarios] if key.scenarios else key.scenarios,
    )
    outbox.stage(session, service=SERVICE, message=change)
    return change


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


async def create_key(
    gw: Gateway, grant: Grant, *, name: str, role: str, scenarios: list[uuid.UUID] | None
) -> tuple[ApiKey, str]:
    secret = "mlk_" + secrets.token_urlsafe(32)
    async with gw.db.transaction() as session:
        if scenarios:
            known = await session.scalar(
                select(func.count()).select_from(Scenario).where(Scenario.id.in_(scenarios))
            )
            if known != len(set(scenarios)):
                raise invalid(["body", "scenarios"], "no such scenario", "unknown")
        key = ApiKey(
            id=uuid.uuid4(),
            name=name,
            role=role,
            key_hash=hash_key(secret),
            prefix=secret[:8],
            created_at=datetime.now(UTC),
            revoked_at=None,
            scenarios=None if scenarios is None else [str(value) for value in scenarios],
        )
        session.add(key)
        change = _announce(session, key)
        audit.record(
            session,
            grant,
            action="key.create",
            resource="key",
            resource_id=key.id,
            detail={"name": name, "role": role},
        )
        await session.commit()
    gw.keyring.apply(change)
    gw.runtime.relay.notify()
    return key, secret


async def list_keys(gw: Gateway) -> Sequence[ApiKey]:
    async with gw.db.transaction() as session:
        return (await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()


async def revoke_key(gw: Gateway, grant: Grant, *, key_id: uuid.UUID) -> None:
    async with gw.db.transaction() as session:
        key = await session.get(ApiKey, key_id, with_for_update=True)
        if key is None:
            raise not_found("API key", key_id)
        if key.revoked_at is not None:
            return
        bootstrap = gw.settings.admin_key
        if bootstrap is not None and key.key_hash == hash_key(bootstrap):
            raise Problem(
                409,
                "Conflict",
                "The bootstrap admin key always exists; rotate it by changing MLOOP_ADMIN_KEY.",
            )
        key.revoked_at = datetime.now(UTC)
        change = _announce(session, key)
        audit.record(session, grant, action="key.revoke", resource="key", resource_id=key.id)
        await session.commit()
    gw.keyring.apply(change)
    gw.runtime.relay.notify()
