"""An in-memory copy of the API keys, so checking a request's key costs no database round trip.

A replica loads every key on start, applies `KeysChanged` broadcasts as they arrive, and reloads
everything every `key_refresh_interval` seconds in case a broadcast was missed (a replaced broker,
say). Only sha256 hashes of the secrets are held.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from mloop_common.db.engine import Database
from mloop_common.db.models import ApiKey
from mloop_common.messages.events import KeysChanged

ROLES = ("admin", "editor", "viewer", "predictor")
# Who may ask for predictions (the gateway's and the predictor's checks).
PREDICT_ROLES = frozenset({"admin", "editor", "predictor"})


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """What a valid key may do: its role, and the scenarios it is limited to (None: all)."""

    key_id: uuid.UUID
    name: str
    role: str
    scenarios: frozenset[uuid.UUID] | None = None

    def sees(self, scenario_id: uuid.UUID) -> bool:
        return self.scenarios is None or scenario_id in self.scenarios


def _scenarios(ids: list[str] | list[uuid.UUID] | None) -> frozenset[uuid.UUID] | None:
    return None if ids is None else frozenset(uuid.UUID(str(value)) for value in ids)


class KeyRing:
    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}

    def lookup(self, secret: str) -> Grant | None:
        return self._grants.get(hash_key(secret))

    def grant(self, key_id: uuid.UUID) -> Grant | None:
        """The grant of a key by its id (None once revoked); a scan over a handful of keys."""
        return next((grant for grant in self._grants.values() if grant.key_id == key_id), None)

    def apply(self, change: KeysChanged) -> None:
        if change.revoked:
            self._grants.pop(change.key_hash, None)
        else:
            self._grants[change.key_hash] = Grant(
                change.key_id, change.name, change.role, _scenarios(change.scenarios)
            )

    async def load(self, db: Database) -> None:
        async with db.transaction() as session:
            keys = (await session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)))).all()
        self._grants = {
            key.key_hash: Grant(key.id, key.name, key.role, _scenarios(key.scenarios))
            for key in keys
        }

    async def keep_fresh(self, db: Database, *, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.load(db)
