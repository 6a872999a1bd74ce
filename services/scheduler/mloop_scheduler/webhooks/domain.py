"""Webhooks, the pure part: what is sent, how it is signed, and when a failed one is retried.

The body is JSON `{"id", "type", "scenario_id", "occurred_at", "data"}`: the event's envelope id,
type name, scenario and time, and its own fields under `data`. It is signed like Stripe's
webhooks: `X-MLoop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
so a receiver checks the exact bytes it got and refuses old timestamps (replays); `verify` is
that check, written the way a receiver would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mloop_common.messages import Message

ENVELOPE_FIELDS = frozenset(
    {"event_id", "type", "schema_version", "occurred_at", "scenario_id", "correlation_id",
     "causation_id"}
)  # fmt: skip
SIGNATURE_HEADER = "X-MLoop-Signature"
EVENT_HEADER = "X-MLoop-Event"
DELIVERY_HEADER = "X-MLoop-Delivery"
DEFAULT_TOLERANCE = 300  # seconds a receiver should accept a signature's timestamp for
BACKOFF_CAP = 3600.0  # no retry waits longer than an hour
JITTER = 0.5  # a retry waits between (1 - JITTER) and 1 times its nominal delay


def payload(message: Message) -> dict[str, Any]:
    """What a webhook receives for `message` (stored with the delivery, sent as JSON)."""
    return {
        "id": str(message.event_id),
        "type": message.type,
        "scenario_id": str(message.scenario_id) if message.scenario_id else None,
        "occurred_at": message.occurred_at.isoformat(),
        "data": _storable(message.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))),
    }


def _storable(value: Any) -> Any:
    """`value` without NUL characters (which Postgres JSONB cannot hold), U+FFFD in their place."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def notification_payload(
    *,
    notification_id: uuid.UUID,
    kind: str,
    scenario_id: uuid.UUID,
    occurred_at: datetime,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """A workflow notification, in the same shape as an event's payload."""
    return {
        "id": str(notification_id),
        "type": kind,
        "scenario_id": str(scenario_id),
        "occurred_at": occurred_at.isoformat(),
        "data": _storable(dict(data)),
    }


def body(content: Mapping[str, Any]) -> bytes:
    """The bytes sent (and signed): compact JSON with sorted keys, UTF-8."""
    return json.dumps(content, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, content: bytes) -> str:
    """The `X-MLoop-Signature` value for `content` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + content, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, content: bytes, *, now: float, tolerance: float = DEFAULT_TOLERANCE
) -> bool:
    """A receiver's check: some `v1` matches the HMAC of `"<t>.<body>"` (in constant time) and
    `t` is within `tolerance` seconds of `now`. Several `v1` entries are accepted, so a
    receiver keeps working while a secret is being replaced."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, content).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def backoff_delay(attempt: int, *, base: float, rand: float, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after failed try number `attempt` (1-based): `base * 2^(attempt-1)`,
    capped, then scaled by a jitter in [1 - JITTER, 1] (`rand` in [0, 1)) so that deliveries
    failing together do not all come back at once."""
    nominal = min(cap, base * 2.0 ** min(attempt - 1, 63))
    return nominal * (1.0 - JITTER * rand)


@dataclass(frozen=True)
class Outcome:
    """How one try went: the HTTP status (None when no answer came) and the error, if any."""

    status_code: int | None
    error: str | None = None
    retryable: bool = True

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Transition:
    """The delivery's state after a try."""

    status: str  # pending (to retry), delivered or failed
    next_attempt_at: datetime | None


def after_attempt(
    outcome: Outcome,
    *,
    attempt: int,
    max_attempts: int,
    base: float,
    now: datetime,
    rand: float,
) -> Transition:
    """Delivered on a 2xx; failed after the last try or on an error not worth retrying;
    otherwise pending again, due after the backoff delay."""
    if outcome.delivered:
        return Transition("delivered", None)
    if not outcome.retryable or attempt >= max_attempts:
        return Transition("failed", None)
    delay = backoff_delay(attempt, base=base, rand=rand)
    return Transition("pending", now + timedelta(seconds=delay))


def http_error(status_code: int, snippet: bytes = b"") -> str:
    """The `last_error` kept for an answer that was not a 2xx (with the start of its body)."""
    text = snippet.decode(errors="replace").strip()
    return f"HTTP {status_code}" + (f": {text[:500]}" if text else "")
