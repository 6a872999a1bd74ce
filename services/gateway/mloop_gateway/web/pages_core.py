"""The dashboard's core pages: sign-in and out, language, static files, home, scenarios, data
and feature sets. Page shells only; their scripts fetch the data from the JSON API."""

from __future__ import annotations

import hashlib
import mimetypes
import uuid
from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from mloop_common.problems import Problem, not_found

from mloop_gateway.web import i18n
from mloop_gateway.web.render import page, render
from mloop_gateway.web.session import (
    COOKIE,
    DASHBOARD_ROLES,
    PageUser,
    cookie_secure,
    csrf_ok,
    safe_next,
    session_grant,
    store,
)

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).parent / "static"
MAX_KEY_CHARS = 512
LANG_COOKIE_SECONDS = 365 * 24 * 3600


# --- static files ---


@cache
def _plotly() -> tuple[Path, str]:
    bundle = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
    stat = bundle.stat()
    return bundle, f'"plotly-{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def _file(request: Request, file: Path, etag: str, cache_control: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    media_type = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}.get(
        file.suffix
    ) or (mimetypes.guess_type(file.name)[0] or "application/octet-stream")
    return FileResponse(file, media_type=media_type, headers=headers)


@router.get("/static/vendor/plotly.min.js")
async def plotly_bundle(request: Request) -> Response:
    """plotly.js as shipped inside the installed plotly wheel (never copied into the repo)."""
    bundle, etag = _plotly()
    return _file(request, bundle, etag, "public, max-age=86400")


@router.get("/static/{file_path:path}")
async def static_file(file_path: str, request: Request) -> Response:
    root = STATIC.resolve()
    file = (root / file_path).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise not_found("file", file_path)
    stat = file.stat()
    tag = hashlib.sha256(f"{file_path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return _file(request, file, f'"{tag[:20]}"', "no-cache")


# --- sign-in, sign-out, language ---


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    if await session_grant(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", title_key="login.title", next=safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in with an API key (form field `key`): a session cookie, then 303 to `next`."""
    origin = request.headers.get("origin")
    if origin and origin not in ("null", f"{request.url.scheme}://{request.url.netloc}"):
        raise Problem(403, "Forbidden", "Sign in from this site's own sign-in page.")
    form = await request.form(max_files=0, max_fields=10)
    secret, target = form.get("key"), safe_next(str(form.get("next") or "/"))
    gateway = request.app.state.gateway
    grant = (
        gateway.keyring.lookup(secret.strip())
        if isinstance(secret, str) and 0 < len(secret) <= MAX_KEY_CHARS
        else None
    )
    if grant is None or grant.role not in DASHBOARD_ROLES:
        error = "login.unknown_key" if grant is None else "login.wrong_role"
        return render(
            request,
            "login.html",
            title_key="login.title",
            next=target,
            error=error,
            status_code=401 if grant is None else 403,
        )
    session_id, _ = await store(request).open(grant)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(gateway.settings.web_session_ttl),
        path="/",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request.url.scheme),
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out (form field `csrf`, or the `X-CSRF-Token` header): the session is deleted."""
    session_id = request.cookies.get(COOKIE)
    sessions = store(request)
    state = await sessions.find(session_id) if session_id else None
    if state is not None:
        form = await request.form(max_files=0, max_fields=5)
        sent = request.headers.get("x-csrf-token") or form.get("csrf")
        if not csrf_ok(state.csrf_token, sent if isinstance(sent, str) else None):
            raise Problem(403, "Forbidden", "Sign out from the dashboard's own button.")
        await sessions.close(session_id or "")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=cookie_secure(request.url.scheme)
    )
    return response


@router.get("/lang/{code}")
async def choose_language(code: str, next: str = "/") -> Response:
    if code not in i18n.LANGUAGES:
        raise not_found("language", code)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(i18n.COOKIE, code, max_age=LANG_COOKIE_SECONDS, path="/", samesite="lax")
    return response


# --- pages ---


@router.get("/")
async def home(request: Request, user: PageUser) -> Response:
    return page(request, "home.html", user, title_key="home.title")


@router.get("/scenarios")
async def scenarios(request: Request, user: PageUser) -> Response:
    return page(request, "scenarios.html", user, title_key="scenarios.title")


@router.get("/scenarios/{scenario_id}")
async def scenario(request: Request, scenario_id: uuid.UUID, user: PageUser) -> Response:
    return page(
        request, "scenario.html", user, title_key="scenarios.overview", scenario_id=scenario_id
    )


@router.get("/scenarios/{scenario_id}/data")
async def data(request: Request, scenario_id: uuid.UUID, user: PageUser) -> Response:
    return page(request, "data.html", user, title_key="data.title", scenario_id=scenario_id)


@router.get("/scenarios/{scenario_id}/feature-sets")
async def feature_sets(request: Request, scenario_id: uuid.UUID, user: PageUser) -> Response:
    return page(
        request, "feature_sets.html", user, title_key="features.title", scenario_id=scenario_id
    )
