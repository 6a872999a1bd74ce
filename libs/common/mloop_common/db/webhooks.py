"""Webhooks and their deliveries.

The gateway writes `webhooks` (users create and delete them through the API); the scheduler
writes `webhook_deliveries` (one row per event and webhook, and one per workflow notification,
which has no webhook row) and is the only one to send them. The gateway reads deliveries with
`deliveries_of`.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mloop_common.db import catalog  # noqa: F401  (the tables its foreign keys name)
from mloop_common.db.models import Base

# The event types a webhook may choose (message type names; see messages/events.py).
WEBHOOK_EVENTS: tuple[str, ...] = (
    "DriftDetected",
    "PerformanceDegraded",
    "ModelTrained",
    "RunFailed",
    "ModelPromoted",
    "ModelRolledBack",
    "ABTestStarted",
    "ABTestEnded",
    "WorkflowStepFinished",
    "DatasetUploaded",
)
# The `type` of a notification a workflow step sends (a delivery without a webhook row).
NOTIFICATION_TYPE = "WorkflowNotification"

DELIVERY_STATUSES = ("pending", "delivered", "failed")


class Webhook(Base):
    """A URL that receives a scenario's chosen events, signed with its own secret."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    scenario_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret: Mapped[str] = mapped_column(String(256))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """One event (or workflow notification) owed to one URL, and how sending it went."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    webhook_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE")
    )
    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
        Index("ix_webhook_deliveries_scenario", "scenario_id"),
    )


def notification_secret(prediction_secret: str, scenario_id: uuid.UUID) -> str:
    """The key workflow notifications of a scenario are signed with.

    Derived from the platform secret (HMAC with a label of its own, so it reveals nothing of
    that secret), so it needs no storage: the scheduler signs with it and the gateway shows it
    to a scenario's admins (`GET .../webhooks/notification-secret`)."""
    label = f"mloop-webhook-notification:{scenario_id}".encode()
    return "whn_" + hmac.new(prediction_secret.encode(), label, hashlib.sha256).hexdigest()


async def deliveries_of(
    session: AsyncSession, webhook_id: uuid.UUID, *, before_id: int | None, limit: int
) -> Sequence[WebhookDelivery]:
    """A webhook's deliveries, newest first, starting after the delivery `before_id`."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return (await session.scalars(query)).all()
