"""`Idempotency-Key` on POST: a retry with the same key gets the first answer, and nothing new
starts. An ASGI middleware, so uploads still stream through it.

The first request claims the key (a row without an answer); its answer is kept unless it was a
server error, which frees the key for a retry. A retry while the first is still running gets
409; the same key on another route gets 422. Keys are per (valid) API key and expire after
`idempotency_ttl` seconds.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from mloop_common.db.catalog import IdempotentResponse
from mloop_common.db.engine import Database
from mloop_common.keyring import KeyRing, hash_key
from mloop_common.problems import Problem, invalid, problem_response
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"idempotency-key"
MAX_KEY_CHARS = 255
MAX_PATH_CHARS = 2048
KEPT_HEADERS = {"content-type", "location"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, db: Database, keyring: KeyRing, ttl: float) -> None:
        self.app, self.db, self.keyring, self.ttl = app, db, keyring, ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        key = headers.get(HEADER)
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        secret = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        if key is None or self.keyring.lookup(secret) is None:
            return await self.app(scope, receive, send)  # nothing to replay, or the route's 401
        idempotency_key = key.decode("latin-1")
        if not idempotency_key or len(idempotency_key) > MAX_KEY_CHARS:
            problem = invalid(
                ["header", "Idempotency-Key"], f"must be 1 to {MAX_KEY_CHARS} characters", "length"
            )
            return await problem_response(problem)(scope, receive, send)
        owner = hash_key(secret)
        claimed = await self._claim(owner, idempotency_key, scope["path"][:MAX_PATH_CHARS])
        if isinstance(claimed, Problem):
            return await problem_response(claimed)(scope, receive, send)
        if claimed is not None:
            return await self._replay(claimed, send)
        await self._run(scope, receive, send, owner, idempotency_key)

    async def _claim(self, owner: str, key: str, path: str) -> IdempotentResponse | Problem | None:
        """None when this request now owns the key; else the kept answer or why not."""
        async with self.db.transaction() as session:
            expired = datetime.now(UTC) - timedelta(seconds=self.ttl)
            await session.execute(
                delete(IdempotentResponse).where(
                    IdempotentResponse.key_hash == owner,
                    IdempotentResponse.idempotency_key == key,
                    IdempotentResponse.created_at < expired,
                )
            )
            inserted = await session.execute(
                pg_insert(IdempotentResponse)
                .values(key_hash=owner, idempotency_key=key, method="POST", path=path, headers={})
                .on_conflict_do_nothing()
                .returning(IdempotentResponse.key_hash)
            )
            if inserted.first() is not None:
                await session.commit()
                return None
            kept = await session.get(IdempotentResponse, (owner, key))
        if kept is None:  # freed by a failed first attempt in between
            return Problem(409, "Conflict", "Retry: the first request with this key just failed.")
        if kept.path != path:
            return Problem(
                422,
                "Idempotency-Key reused",
                f"This Idempotency-Key was first used for POST {kept.path}.",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused", "type": "reused"}],
            )
        if kept.status is None:
            return Problem(409, "Conflict", "A request with this Idempotency-Key is in progress.")
        return kept

    async def _replay(self, kept: IdempotentResponse, send: Send) -> None:
        headers = [(name.encode(), value.encode()) for name, value in kept.headers.items()]
        headers.append((b"idempotency-replayed", b"true"))
        body = kept.body or b""
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": kept.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _run(self, scope: Scope, receive: Receive, send: Send, owner: str, key: str) -> None:
        started: Message = {}
        body = bytearray()
        last: Message | None = None

        async def keep(message: Message) -> None:
            nonlocal started, last
            if message["type"] == "http.response.start":
                started = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    last = message  # held back until the answer is kept, so no retry
                    return  # can see the key still in progress after the client has it
            await send(message)

        try:
            await self.app(scope, receive, keep)
        finally:
            await self._settle(owner, key, started, bytes(body))
        if last is not None:
            await send(last)

    async def _settle(self, owner: str, key: str, started: Message, body: bytes) -> None:
        async with self.db.transaction() as session:
            kept = await session.get(IdempotentResponse, (owner, key), with_for_update=True)
            if kept is None:
                return
            status = started.get("status", 500)
            if status >= 500:
                await session.delete(kept)
            else:
                kept.status, kept.body = status, body
                kept.headers = {
                    name.decode(): value.decode("latin-1")
                    for name, value in started.get("headers", [])
                    if name.decode().lower() in KEPT_HEADERS
                }
            await session.commit()


async def purge_expired(db: Database, *, ttl: float) -> None:
    """Forget answers older than the time-to-live, every tenth of it (at most hourly)."""
    while True:
        await asyncio.sleep(min(ttl / 10, 3600.0))
        async with db.transaction() as session:
            expired = datetime.now(UTC) - timedelta(seconds=ttl)
            await session.execute(
                delete(IdempotentResponse).where(IdempotentResponse.created_at < expired)
            )
            await session.commit()
