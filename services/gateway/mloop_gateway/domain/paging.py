"""Opaque keyset cursors for lists ordered newest first by (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime


class BadCursor(ValueError):
    pass


def encode_cursor(created_at: datetime, id_: object) -> str:
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, id_ = json.loads(raw)
        return datetime.fromisoformat(created_at), str(id_)
    except (binascii.Error, ValueError, TypeError) as err:
        raise BadCursor("the cursor is not one this API returned") from err


def decode_before(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) a page must start before, for tables keyed by UUIDs."""
    if not cursor:
        return None
    created_at, id_ = decode_cursor(cursor)
    try:
        return created_at, uuid.UUID(id_)
    except ValueError as err:
        raise BadCursor("the cursor is not one this API returned") from err
