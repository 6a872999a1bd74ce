"""Notifications for workflow steps: a webhook call owed by a transaction of the caller.

`enqueue_notification` writes a pending delivery without a webhook row in the caller's
session; it is sent (and retried) by the scheduler's webhook loop once the caller commits, like
any event delivery. The body has the events' shape, with `type` "WorkflowNotification" and the
step's payload under `data`:

    {"id": "<notification uuid>", "type": "WorkflowNotification", "scenario_id": "...",
     "occurred_at": "...", "data": {...the payload...}}

It is signed like every delivery (`X-MLoop-Signature`), with the scenario's notification key:
a key derived from `MLOOP_PREDICTION_SECRET` for that scenario alone, which a scenario admin
reads at `GET /api/scenarios/{id}/webhooks/notification-secret`. The URL must pass the same
rules as a webhook's: its form is checked here, and its address when `allow` is given (the
allow-list of the settings) and again before every send, where a refused address fails the
delivery at once with the reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from mloop_common.db.webhooks import NOTIFICATION_TYPE
from mloop_common.webhook_targets import AllowList, TargetRefused, check, parse
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.webhooks import domain
from mloop_scheduler.webhooks.adapters import queue

MAX_PAYLOAD_BYTES = 256 * 1024


async def enqueue_notification(
    session: AsyncSession,
    *,
    scenario_id: uuid.UUID,
    url: str,
    payload: dict[str, Any],
    allow: Iterable[str] | None = None,
) -> int:
    """Queue a signed POST of `payload` to `url` in the caller's transaction; the delivery id.

    Raises `TargetRefused` (a ValueError; its message says why) for a URL no webhook may have
    (with `allow`, the settings' `webhook_allow`, also for an address the policy refuses), and
    ValueError for a payload that is not a JSON object of at most 256 KiB."""
    if allow is None:
        parse(url)
    else:
        await check(url, AllowList.parse(allow))
    if not isinstance(payload, dict):
        raise ValueError("a notification's payload must be a JSON object")
    try:
        text = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"a notification's payload must be JSON: {error}") from None
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a notification's payload must be at most {MAX_PAYLOAD_BYTES} bytes")
    notification_id = uuid.uuid4()
    content = domain.notification_payload(  # (NUL characters become U+FFFD)
        notification_id=notification_id,
        kind=NOTIFICATION_TYPE,
        scenario_id=scenario_id,
        occurred_at=datetime.now(UTC),
        data=payload,
    )
    return await queue.insert_notification(
        session,
        scenario_id=scenario_id,
        event_id=notification_id,
        event_type=NOTIFICATION_TYPE,
        url=url,
        payload=content,
    )


__all__ = ["TargetRefused", "enqueue_notification"]
