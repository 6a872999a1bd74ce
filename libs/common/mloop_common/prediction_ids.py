"""Prediction ids that prove themselves: who made them can be told without a database look-up.

An id is 32 URL-safe characters: 6 bytes of milliseconds since the epoch, 10 random bytes, and
an 8-byte HMAC-SHA256 tag over the scenario id and those 16 bytes, keyed with
`MLOOP_PREDICTION_SECRET`. A forged, mistyped or other scenario's id fails `verify`; a genuine one
gives back the moment it was made, which is also the prediction's partition key in the log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import uuid
from datetime import UTC, datetime

_TAG_BYTES = 8
_ID_BYTES = 16 + _TAG_BYTES
ID_LENGTH = 32


class PredictionIds:
    """Issues and checks the ids of one deployment's predictions (one shared secret)."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _tag(self, scenario_id: uuid.UUID, body: bytes) -> bytes:
        return hmac.digest(self._key, scenario_id.bytes + body, hashlib.sha256)[:_TAG_BYTES]

    def issue(self, scenario_id: uuid.UUID, at: datetime) -> str:
        millis = int(at.timestamp() * 1000)
        body = millis.to_bytes(6, "big") + os.urandom(10)
        return base64.urlsafe_b64encode(body + self._tag(scenario_id, body)).decode()

    def verify(self, scenario_id: uuid.UUID, prediction_id: str) -> datetime | None:
        """The moment the id was issued at, or None when this deployment did not issue it for
        this scenario."""
        if not isinstance(prediction_id, str) or len(prediction_id) != ID_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(prediction_id.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return None
        body, tag = raw[:16], raw[16:]
        if len(raw) != _ID_BYTES or not hmac.compare_digest(tag, self._tag(scenario_id, body)):
            return None
        return _moment(raw)


def issued_at(prediction_id: str) -> datetime:
    """The moment inside an id (not checked: call `PredictionIds.verify` for ids from outside)."""
    return _moment(base64.urlsafe_b64decode(prediction_id.encode("ascii")))


def _moment(raw: bytes) -> datetime:
    return datetime.fromtimestamp(int.from_bytes(raw[:6], "big") / 1000, UTC)
