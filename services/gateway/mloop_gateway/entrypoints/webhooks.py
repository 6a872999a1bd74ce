"""`/api/scenarios/{id}/webhooks`: per-scenario webhooks and their deliveries.

Editors and admins create, change (PUT, also to switch one off) and delete them; viewers read
them. A webhook's secret is answered once, by the call that creates it. The scheduler sends
the deliveries (see README, Webhooks).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from mloop_common.db.webhooks import WEBHOOK_EVENTS
from mloop_common.problems import invalid
from mloop_common.webhook_targets import MAX_URL_LENGTH
from pydantic import Field, StringConstraints

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.schemas import Page, Public, Strict
from mloop_gateway.handlers import webhooks

router = APIRouter(prefix="/api/scenarios/{scenario_id}/webhooks", tags=["webhooks"])

EventName = Literal[WEBHOOK_EVENTS]  # type: ignore[valid-type]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$")]


class WebhookCreate(Strict):
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="http(s) URL to POST events to; no credentials in it, and its host must "
        "resolve to public addresses only (unless MLOOP_WEBHOOK_ALLOW names it).",
    )
    events: list[EventName] = Field(
        min_length=1, max_length=len(WEBHOOK_EVENTS), description="Event types to send."
    )
    secret: Secret | None = Field(
        None,
        description="HMAC key of the signatures (16-256 visible ASCII characters); "
        "generated when not given. Answered once, by this call.",
    )
    enabled: bool = Field(True, description="False keeps the webhook without sending to it.")


class WebhookUpdate(Strict):
    """The fields to change; those left out keep their value."""

    url: str | None = Field(
        None,
        max_length=MAX_URL_LENGTH,
        description="New target, checked as at creation; pending deliveries go to it.",
    )
    events: list[EventName] | None = Field(  # type: ignore[valid-type]
        None, min_length=1, max_length=len(WEBHOOK_EVENTS), description="Event types to send."
    )
    secret: Secret | None = Field(
        None, description="A new signing secret (16-256 visible ASCII characters)."
    )
    enabled: bool | None = Field(
        None,
        description="False: no new deliveries, and pending ones are given up; true: sends "
        "again (events from then on).",
    )


class WebhookPublic(Public):
    id: uuid.UUID
    scenario_id: uuid.UUID
    url: str
    events: list[str]
    enabled: bool
    created_by: uuid.UUID | None
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret; shown this once only.")


class DeliveryPublic(Public):
    id: int
    webhook_id: uuid.UUID | None
    event_id: uuid.UUID
    event_type: str
    url: str
    status: str = Field(description="pending, delivered or failed.")
    attempts: int = Field(description="Tries so far.")
    next_attempt_at: datetime = Field(description="When a pending delivery is tried next.")
    last_status_code: int | None = Field(description="HTTP status of the last answer.")
    last_error: str | None = Field(description="Why the last try failed.")
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The JSON body sent.")


class NotificationSecret(Public):
    secret: str = Field(
        description="Key the scenario's workflow notifications are signed with (X-MLoop-Signature)."
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
async def create_webhook(
    scenario_id: uuid.UUID, body: WebhookCreate, gw: Ctx, caller: Editor
) -> WebhookCreated:
    """Create a webhook; the answer's `secret` signs its deliveries and is not shown again."""
    hook = await webhooks.create(gw, caller, scenario_id, **body.model_dump())
    return WebhookCreated.model_validate(hook)


@router.get("", response_model=Page[WebhookPublic])
async def list_webhooks(
    scenario_id: uuid.UUID, gw: Ctx, caller: Viewer, after: After, limit: Limit = 50
) -> Page[Any]:
    found = await webhooks.list_(gw, caller, scenario_id, after=after, limit=limit)
    return page_of(found, limit, WebhookPublic.model_validate)


@router.get("/notification-secret", response_model=NotificationSecret)
async def get_notification_secret(
    scenario_id: uuid.UUID, gw: Ctx, caller: Editor
) -> NotificationSecret:
    """The key workflow `notification` steps of this scenario sign their calls with."""
    return NotificationSecret(secret=await webhooks.notification_key(gw, caller, scenario_id))


@router.get("/{webhook_id}", response_model=WebhookPublic)
async def get_webhook(
    scenario_id: uuid.UUID, webhook_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> WebhookPublic:
    return WebhookPublic.model_validate(await webhooks.get(gw, caller, scenario_id, webhook_id))


@router.put("/{webhook_id}", response_model=WebhookPublic)
async def update_webhook(
    scenario_id: uuid.UUID, webhook_id: uuid.UUID, body: WebhookUpdate, gw: Ctx, caller: Editor
) -> WebhookPublic:
    """Change the webhook's URL, events, secret or `enabled`; the fields left out keep their
    value. The answer never shows the secret."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("url", "events", "secret", "enabled"):
        if required in changes and changes[required] is None:
            raise invalid(["body", required], f"{required} cannot be null", "null")
    hook = await webhooks.update(gw, caller, scenario_id, webhook_id, changes)
    return WebhookPublic.model_validate(hook)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    scenario_id: uuid.UUID, webhook_id: uuid.UUID, gw: Ctx, caller: Editor
) -> Response:
    """Delete the webhook and its deliveries; pending ones are not sent."""
    await webhooks.delete(gw, caller, scenario_id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryPublic])
async def list_deliveries(
    scenario_id: uuid.UUID,
    webhook_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    limit: Limit = 50,
    cursor: Annotated[
        str | None, Query(max_length=20, description="`next_cursor` of the previous page.")
    ] = None,
) -> Page[DeliveryPublic]:
    """The webhook's deliveries, newest first."""
    if cursor is not None and not cursor.isdigit():
        raise invalid(["query", "cursor"], "the cursor is not one this API returned", "cursor")
    found = await webhooks.deliveries(
        gw,
        caller,
        scenario_id,
        webhook_id,
        before_id=int(cursor) if cursor else None,
        limit=limit,
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[DeliveryPublic.model_validate(d) for d in found], next_cursor=next_cursor)
