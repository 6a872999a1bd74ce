"""Page shells: a Jinja2 template filled with the visitor's language, grant and CSRF token.

Pages are server-rendered shells; their data comes from the JSON API, fetched by the page's
script (`static/pages/<page>.js`) through `MLoop.api`.
"""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from mloop_common.keyring import Grant

from mloop_gateway.web import i18n
from mloop_gateway.web.session import SignInRequired, WebSessionState

TEMPLATES = Path(__file__).parent / "templates"

# Scripts only from this site (no inline script, no `on...=` attributes); plotly sets inline
# styles and draws with data: / blob: images.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    *,
    title_key: str,
    user: Grant | None = None,
    csrf: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    messages = i18n.catalog(lang)

    def t(key: str, **values: object) -> str:
        return i18n.translate(messages, key, **values)

    role = user.role if user else None
    html = (
        environment()
        .get_template(template)
        .render(
            t=t,
            lang=lang,
            languages=i18n.LANGUAGES,
            messages=messages,
            user=user,
            can_edit=role in ("admin", "editor"),
            can_admin=role == "admin",
            csrf=csrf,
            title=t(title_key),
            path=request.url.path,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def page(
    request: Request,
    template: str,
    user: Grant,
    *,
    title_key: str,
    scenario_id: uuid.UUID | None = None,
    **context: Any,
) -> HTMLResponse:
    """A signed-in page (`user` from `PageUser`): `templates/<template>` extending base.html."""
    state: WebSessionState | None = getattr(request.state, "web_session", None)
    return render(
        request,
        template,
        title_key=title_key,
        user=user,
        csrf=state.csrf_token if state else "",
        scenario_id=str(scenario_id) if scenario_id else None,
        **context,
    )


def install(app: FastAPI) -> None:
    """Answer `SignInRequired` (raised by `PageUser`) with a redirect to the sign-in page."""

    async def _sign_in(request: Request, exc: Exception) -> RedirectResponse:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(
            exc.location, status_code=303, headers={"Cache-Control": "no-store"}
        )

    app.add_exception_handler(SignInRequired, _sign_in)
