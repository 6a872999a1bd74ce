"""The deliveries queue: `webhook_deliveries` as the scheduler's webhook outbox.

A delivery row is written in the same transaction as whatever owes it (an event consumed, a
workflow step), so nothing is sent that was not committed and nothing committed is lost. Senders
claim due rows with `FOR UPDATE SKIP LOCKED` and take a lease on them by pushing
`next_attempt_at` past the send's time limit and counting the try, all in one statement; so two
replicas never send the same delivery at once, and a sender killed mid-send leaves its rows to
be claimed again when the lease runs out. A result is recorded only if the row is still at the
try it was claimed for (a fence against a sender that outlived its lease).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mloop_common.db.engine import Database
from mloop_common.db.webhooks import Webhook, WebhookDelivery
from mloop_common.messages import Message
from sqlalchemy import any_, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_scheduler.webhooks.domain import Outcome, Transition

# A webhook created this long after an event still receives it (clocks of services differ);
# older events (replayed after a broker replacement, say) do not reach webhooks made since.
CREATION_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class Claimed:
    """A delivery a sender holds the lease of, with everything needed to send it."""

    id: int
    attempt: int
    scenario_id: uuid.UUID
    webhook_id: uuid.UUID | None
    event_type: str
    url: str
    payload: dict[str, Any]
    secret: str


async def enqueue_event(session: AsyncSession, message: Message, payload: dict[str, Any]) -> int:
    """One pending delivery per enabled webhook of the event's scenario that chose its type;
    a redelivered event adds nothing (UNIQUE (webhook_id, event_id)). Answers how many."""
    if message.scenario_id is None:
        return 0
    occurred = message.occurred_at
    if occurred.tzinfo is None:  # a producer outside MLoop may send a naive time: UTC
        occurred = occurred.replace(tzinfo=UTC)
    chosen = select(
        Webhook.id,
        Webhook.scenario_id,
        literal(message.event_id),
        literal(message.type),
        Webhook.url,
        literal(payload, WebhookDelivery.payload.type),
        literal("pending"),
        literal(0),
    ).where(
        Webhook.scenario_id == message.scenario_id,
        Webhook.enabled.is_(True),
        literal(message.type) == any_(Webhook.events),
        Webhook.created_at <= occurred + CREATION_SLACK,
    )
    result = await session.execute(
        pg_insert(WebhookDelivery)
        .from_select(
            [
                "webhook_id",
                "scenario_id",
                "event_id",
                "event_type",
                "url",
                "payload",
                "status",
                "attempts",
            ],
            chosen,
        )
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        .returning(WebhookDelivery.id)
    )
    return len(result.all())


async def insert_notification(
    session: AsyncSession,
    *,
    scenario_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    url: str,
    payload: dict[str, Any],
) -> int:
    """A pending delivery without a webhook row, in the caller's transaction; its id."""
    result = await session.execute(
        pg_insert(WebhookDelivery)
        .values(
            webhook_id=None,
            scenario_id=scenario_id,
            event_id=event_id,
            event_type=event_type,
            url=url,
            payload=payload,
            status="pending",
            attempts=0,
        )
        .returning(WebhookDelivery.id)
    )
    return int(result.scalar_one())


async def claim(
    db: Database,
    *,
    limit: int,
    lease: float,
    max_attempts: int,
    notification_secret: Callable[[uuid.UUID], str],
) -> list[Claimed]:
    """Take up to `limit` due deliveries, oldest due first, under a lease of `lease` seconds.

    A delivery whose last allowed try was cut off (its sender died; the lease ran out with no
    result) is failed here rather than tried once more, and so is one whose webhook was
    disabled since it was queued. A webhook's delivery goes to the webhook's URL in force (an
    edit re-points its pending deliveries), and the row records it."""
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= func.now())
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    disabled = (
        select(Webhook.id)
        .where(Webhook.id == WebhookDelivery.webhook_id, Webhook.enabled.is_(False))
        .exists()
    )
    current_url = (
        select(Webhook.url).where(Webhook.id == WebhookDelivery.webhook_id).scalar_subquery()
    )
    async with db.transaction() as session:
        for given_up, why in (
            (due.where(disabled), "the webhook was disabled"),
            (
                due.where(WebhookDelivery.attempts >= max_attempts),
                "no result of the last try (its sender stopped)",
            ),
        ):
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(given_up))
                .values(
                    status="failed",
                    last_error=func.coalesce(WebhookDelivery.last_error + "; ", "") + why,
                )
            )
        due = due.where(WebhookDelivery.attempts < max_attempts, ~disabled)
        rows = (
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(due))
                .values(
                    attempts=WebhookDelivery.attempts + 1,
                    next_attempt_at=func.now() + timedelta(seconds=lease),
                    url=func.coalesce(current_url, WebhookDelivery.url),
                )
                .returning(
                    WebhookDelivery.id,
                    WebhookDelivery.attempts,
                    WebhookDelivery.scenario_id,
                    WebhookDelivery.webhook_id,
                    WebhookDelivery.event_type,
                    WebhookDelivery.url,
                    WebhookDelivery.payload,
                )
            )
        ).all()
        hooks = {row.webhook_id for row in rows if row.webhook_id is not None}
        secrets: dict[uuid.UUID, str] = {}
        if hooks:
            found = await session.execute(
                select(Webhook.id, Webhook.secret).where(Webhook.id.in_(hooks))
            )
            secrets = {hook_id: secret for hook_id, secret in found.all()}
        await session.commit()
    return [
        Claimed(
            id=row.id,
            attempt=row.attempts,
            scenario_id=row.scenario_id,
            webhook_id=row.webhook_id,
            event_type=row.event_type,
            url=row.url,
            payload=row.payload,
            secret=(
                secrets.get(row.webhook_id, "")
                if row.webhook_id is not None
                else notification_secret(row.scenario_id)
            ),
        )
        for row in sorted(rows, key=lambda found: found.id)
    ]


async def record(
    db: Database, claimed: Claimed, transition: Transition, outcome: Outcome, *, now: datetime
) -> bool:
    """Store how the try went; False when the row moved on meanwhile (lease lost, or the
    webhook was deleted)."""
    values: dict[str, Any] = {
        "status": transition.status,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if transition.next_attempt_at is not None:
        values["next_attempt_at"] = transition.next_attempt_at
    if transition.status == "delivered":
        values["delivered_at"] = now
    async with db.transaction() as session:
        result = await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claimed.id,
                WebhookDelivery.attempts == claimed.attempt,
                WebhookDelivery.status == "pending",
            )
            .values(**values)
        )
        await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def next_due(db: Database) -> datetime | None:
    """When the earliest pending delivery falls due (None when none is pending)."""
    async with db.transaction() as session:
        return await session.scalar(
            select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == "pending"
            )
        )
