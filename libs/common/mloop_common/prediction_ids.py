"""Prediction ids that prove themselves: who made them can be told without a database look-up.

An id is 32 URL-safe characters: 6 bytes of milliseconds since the epoch, 10 random bytes, and
an 8-byte HMAC-SHA256 tag over the scenario id and those 16 bytes, keyed with
`MLOOP_PREDICTION_SECRET`. A forged, mistyped or other scenario's id fails `verify`; a genuine one
gives back the moment it was made, which is also the prediction's partition key in the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import uuid
from datetime import UTC, datetime
from typing import Any

_TAG_BYTES = 8
_ID_BYTES = 16 + _TAG_BYTES
ID_LENGTH = 32
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_BLOCK = 64  # SHA-256's block: HMAC pads (or first hashes) the key to it
_KEYED_MAX = 10_000  # scenarios whose keyed state is kept (then all forgotten at once)


class PredictionIds:
    """Issues and checks the ids of one deployment's predictions (one shared secret)."""

    def __init__(self, secret: str) -> None:
        # HMAC-SHA256 (RFC 2104) with its keyed inner and outer hash states made once, and the
        # inner one fed each scenario's id once: a tag then costs two state copies and 48 bytes
        # of hashing, half of a one-shot `hmac.digest` (the feedback path checks ids by the
        # million). A unit test holds it to `hmac.digest`.
        key = secret.encode()
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
        self._scenarios: dict[uuid.UUID, Any] = {}

    def _tag(self, scenario_id: uuid.UUID, body: bytes) -> bytes:
        keyed = self._scenarios.get(scenario_id)
        if keyed is None:
            if len(self._scenarios) >= _KEYED_MAX:
                self._scenarios.clear()
            keyed = self._scenarios[scenario_id] = self._inner.copy()
            keyed.update(scenario_id.bytes)
        inner = keyed.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:_TAG_BYTES]

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
            raw = binascii.a2b_base64(prediction_id.encode("ascii").translate(_URLSAFE))
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
