"""Opaque keyset cursors for lists ordered newest first by (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from mloop_common.db.paging import Position


class BadCursor(ValueError):
    pass


def encode_cursor(created_at: datetime, id_: object) -> str:
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The (created_at, id) of the last row of the previous page."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, id_ = json.loads(raw)
        return datetime.fromisoformat(created_at), uuid.UUID(id_)
    except (binascii.Error, ValueError, TypeError, AttributeError) as err:
        raise BadCursor("the cursor is not one this API returned") from err
