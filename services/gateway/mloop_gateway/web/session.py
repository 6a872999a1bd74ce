"""Dashboard sign-in sessions: a random id in an HTTP-only cookie, the rest on the server.

Signing in with an API key opens a session (table `web_sessions`). The cookie `mloop_session`
holds only the session's random id; the table keeps its sha256, the key it was opened with, a
CSRF token and when it expires (`web_session_ttl` after sign-in). The key's role, read from the
in-memory key ring on every request, decides what the session may do, so revoking the key ends
its sessions at once. Sessions are cached in memory for a few seconds, so a page costs no
database round trip per API call; a sign-out on another replica is seen within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from mloop_common.db.engine import Database
from mloop_common.db.web_sessions import WebSession
from mloop_common.keyring import Grant, KeyRing
from mloop_common.problems import Problem
from sqlalchemy import delete, update

COOKIE = "mloop_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DASHBOARD_ROLES = frozenset({"admin", "editor", "viewer"})
CACHE_SECONDS = 15.0
CACHE_MAX = 10_000


# --- pure parts ---


def new_secret() -> str:
    """A random session id or CSRF token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_ok(expected: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 32 for char in target)
    ):
        return "/"
    return target


def login_url(path: str, query: str = "") -> str:
    here = path + (f"?{query}" if query else "")
    return "/login" if here == "/" else f"/login?next={quote(here, safe='')}"


def cookie_secure(scheme: str) -> bool:
    return scheme == "https"


@dataclass(frozen=True)
class WebSessionState:
    """One open session as the gateway holds it."""

    id_hash: str
    key_id: uuid.UUID
    csrf_token: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class SessionStore:
    """Opens, finds and closes sessions; finding is served from memory when recently seen."""

    def __init__(self, db: Database, keyring: KeyRing, *, ttl: float) -> None:
        self.db, self.keyring, self.ttl = db, keyring, ttl
        self._cache: dict[str, tuple[float, WebSessionState]] = {}

    def grant_of(self, state: WebSessionState) -> Grant | None:
        """The session key's current grant (None once revoked), from the key ring."""
        return self.keyring.grant(state.key_id)

    async def open(self, grant: Grant) -> tuple[str, WebSessionState]:
        """A new session for a key already checked against the ring: (cookie value, state)."""
        session_id = new_secret()
        now = datetime.now(UTC)
        state = WebSessionState(
            id_hash=hash_id(session_id),
            key_id=grant.key_id,
            csrf_token=new_secret(),
            expires_at=now + timedelta(seconds=self.ttl),
        )
        async with self.db.transaction() as session:
            await session.execute(delete(WebSession).where(WebSession.expires_at < now))
            session.add(
                WebSession(
                    id_hash=state.id_hash,
                    key_id=state.key_id,
                    csrf_token=state.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=state.expires_at,
                )
            )
            await session.commit()
        self._remember(state)
        return session_id, state

    async def find(self, session_id: str) -> WebSessionState | None:
        if not session_id or len(session_id) > 128:
            return None
        id_hash = hash_id(session_id)
        now = datetime.now(UTC)
        cached = self._cache.get(id_hash)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            state = cached[1]
            return None if state.expired(now) else state
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    update(WebSession)
                    .where(WebSession.id_hash == id_hash, WebSession.expires_at > now)
                    .values(last_seen_at=now)
                    .returning(WebSession.key_id, WebSession.csrf_token, WebSession.expires_at)
                )
            ).first()
            await session.commit()
        if row is None:
            self._cache.pop(id_hash, None)
            return None
        state = WebSessionState(id_hash, row.key_id, row.csrf_token, row.expires_at)
        self._remember(state)
        return state

    async def close(self, session_id: str) -> None:
        id_hash = hash_id(session_id)
        self._cache.pop(id_hash, None)
        async with self.db.transaction() as session:
            await session.execute(delete(WebSession).where(WebSession.id_hash == id_hash))
            await session.commit()

    def _remember(self, state: WebSessionState) -> None:
        if len(self._cache) >= CACHE_MAX:
            self._cache.pop(next(iter(self._cache)))
        self._cache[state.id_hash] = (time.monotonic(), state)


def store(request: Request) -> SessionStore:
    """The app's session store, made on first use from the gateway's context."""
    found: SessionStore | None = getattr(request.app.state, "web_sessions", None)
    if found is None:
        gateway = request.app.state.gateway
        found = SessionStore(gateway.db, gateway.keyring, ttl=gateway.settings.web_session_ttl)
        request.app.state.web_sessions = found
    return found


async def session_grant(request: Request) -> Grant | None:
    """The grant of the request's session cookie, or None when it carries no live session.

    With a session, an unsafe method must send the session's CSRF token in `X-CSRF-Token`
    (else 403). A found session is kept on `request.state.web_session` for the page renderer.
    """
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    sessions = store(request)
    state = await sessions.find(session_id)
    if state is None:
        return None
    grant = sessions.grant_of(state)
    if grant is None or grant.role not in DASHBOARD_ROLES:
        return None
    if request.method in UNSAFE_METHODS and not csrf_ok(
        state.csrf_token, request.headers.get(CSRF_HEADER)
    ):
        raise Problem(
            403, "Forbidden", f"A change made with a sign-in session needs its {CSRF_HEADER}."
        )
    request.state.web_session = state
    return grant


class SignInRequired(Exception):
    """Raised by `PageUser` without a session: answered by a 303 to the sign-in page."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


async def page_user(request: Request) -> Grant:
    grant = await session_grant(request)
    if grant is None:
        raise SignInRequired(login_url(request.url.path, request.url.query))
    return grant


PageUser = Annotated[Grant, Depends(page_user)]
