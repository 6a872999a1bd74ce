"""Webhooks of a scenario: create (the target checked, the secret shown once), list, change,
delete, and their deliveries (written by the scheduler, read here through
`mloop_common.db.webhooks`)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from mloop_common import webhook_targets
from mloop_common.db.paging import Position, newest_first
from mloop_common.db.webhooks import (
    Webhook,
    WebhookDelivery,
    deliveries_of,
    notification_secret,
)
from mloop_common.keyring import Grant
from mloop_common.problems import invalid, not_found
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import Gateway
from mloop_gateway.handlers import audit, scenarios


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def checked_url(gw: Gateway, url: str) -> str:
    """`url` when a webhook may call it; a 422 naming `url` and the reason otherwise."""
    allow = webhook_targets.AllowList.parse(gw.settings.webhook_allow)
    try:
        async with asyncio.timeout(gw.settings.webhook_timeout):
            await webhook_targets.check(url, allow)
    except webhook_targets.TargetRefused as refused:
        raise invalid(["body", "url"], str(refused), "url_refused") from None
    except TimeoutError:
        raise invalid(
            ["body", "url"], "the URL's host did not resolve in time", "url_refused"
        ) from None
    return url


async def create(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    url: str,
    events: list[str],
    secret: str | None,
    enabled: bool,
) -> Webhook:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)  # 404 before any DNS look-up
    await checked_url(gw, url)
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id, for_update=True)
        hook = Webhook(
            id=uuid.uuid4(),
            scenario_id=scenario_id,
            url=url,
            events=list(dict.fromkeys(events)),
            secret=secret or new_secret(),
            enabled=enabled,
            created_by=grant.key_id,
        )
        session.add(hook)
        await session.flush()
        target = webhook_targets.parse(url)
        audit.record(
            session,
            grant,
            action="webhook.create",
            resource="webhook",
            resource_id=hook.id,
            scenario_id=scenario_id,
            # the host only: a webhook URL's path or query may itself be a credential
            detail={"host": target.host, "events": hook.events, "enabled": enabled},
        )
        await session.commit()
        await session.refresh(hook)
    return hook


async def list_(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, *, after: Position | None, limit: int
) -> Sequence[Webhook]:
    query = newest_first(
        select(Webhook).where(Webhook.scenario_id == scenario_id),
        Webhook.created_at,
        Webhook.id,
        after=after,
        limit=limit,
    )
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return (await session.scalars(query)).all()


async def get(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
    async with gw.db.transaction() as session:
        return await _owned(session, grant, scenario_id, webhook_id)


async def update(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    webhook_id: uuid.UUID,
    changes: dict[str, Any],
) -> Webhook:
    """Change any of `url` (checked as at creation), `events`, `secret` and `enabled`. A
    disabled webhook gets no new deliveries, and the scheduler gives up its pending ones; its
    pending deliveries go to the URL in force and are signed with the secret in force when
    they are sent."""
    async with gw.db.transaction() as session:
        hook = await _owned(session, grant, scenario_id, webhook_id)  # 404 before any look-up
        url_changed = "url" in changes and changes["url"] != hook.url
    if url_changed:
        await checked_url(gw, changes["url"])
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    async with gw.db.transaction() as session:
        hook = await _owned(session, grant, scenario_id, webhook_id, for_update=True)
        changed = {name: value for name, value in changes.items() if getattr(hook, name) != value}
        for name, value in changed.items():
            setattr(hook, name, value)
        if changed:
            detail: dict[str, Any] = {"host": webhook_targets.parse(hook.url).host}
            # never the URL itself nor the secret: either may be a credential
            detail["changed"] = sorted(changed)
            detail |= {key: changed[key] for key in ("events", "enabled") if key in changed}
            audit.record(
                session,
                grant,
                action="webhook.update",
                resource="webhook",
                resource_id=webhook_id,
                scenario_id=scenario_id,
                detail=detail,
            )
        await session.commit()
        await session.refresh(hook)
    return hook


async def delete(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
    """Delete the webhook and its deliveries (pending ones are not sent)."""
    async with gw.db.transaction() as session:
        hook = await _owned(session, grant, scenario_id, webhook_id, for_update=True)
        await session.delete(hook)
        audit.record(
            session,
            grant,
            action="webhook.delete",
            resource="webhook",
            resource_id=webhook_id,
            scenario_id=scenario_id,
            detail={"host": webhook_targets.parse(hook.url).host, "events": hook.events},
        )
        await session.commit()


async def deliveries(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    before_id: int | None,
    limit: int,
) -> Sequence[WebhookDelivery]:
    async with gw.db.transaction() as session:
        await _owned(session, grant, scenario_id, webhook_id)
        return await deliveries_of(session, webhook_id, before_id=before_id, limit=limit)


async def notification_key(gw: Gateway, grant: Grant, scenario_id: uuid.UUID) -> str:
    """The key the scenario's workflow notifications are signed with (derived, not stored)."""
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
    return notification_secret(gw.settings.prediction_secret, scenario_id)


async def _owned(
    session: AsyncSession,
    grant: Grant,
    scenario_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Webhook:
    await scenarios.load(session, grant, scenario_id)
    hook = await session.get(Webhook, webhook_id, with_for_update=for_update)
    if hook is None or hook.scenario_id != scenario_id:
        raise not_found("webhook", webhook_id)
    return hook
