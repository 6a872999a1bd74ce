"""What the client raises: a problem document from the gateway, or no answer at all."""

from __future__ import annotations

from typing import Any

import httpx


class MLoopError(Exception):
    """An API call failed; the fields are those of the RFC 9457 problem document."""

    def __init__(
        self,
        status: int | None,
        title: str,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        *,
        type_: str = "about:blank",
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors or []
        self.type = type_

    @classmethod
    def from_response(cls, response: httpx.Response) -> MLoopError:
        """Build from a problem+json answer; any other body becomes the detail."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "title" in body:
            errors = body.get("errors")
            return cls(
                int(body.get("status") or response.status_code),
                str(body["title"]),
                body.get("detail"),
                errors if isinstance(errors, list) else None,
                type_=str(body.get("type") or "about:blank"),
            )
        text = response.text.strip()
        return cls(response.status_code, response.reason_phrase or "HTTP error", text[:500] or None)


class GatewayUnreachable(MLoopError):
    """No HTTP answer at all: refused, reset or timed out before a response."""

    def __init__(self, url: str, cause: Exception) -> None:
        reason = str(cause) or type(cause).__name__
        if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout)):
            detail = (
                f"Cannot connect to the MLoop gateway at {url} ({reason}). Is it running? "
                "Start it with `mloop up` (or `make run`), or point MLOOP_URL / --url at it."
            )
        else:
            detail = f"The MLoop gateway at {url} gave no answer ({reason})."
        super().__init__(None, "Gateway unreachable", detail)
        self.url = url
