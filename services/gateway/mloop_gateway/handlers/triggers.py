"""Retraining triggers: the gateway writes their definitions; the scheduler fires them and
records the firings, which the gateway shows."""

from __future__ import annotations

import uuid
from typing import Any

from mloop_common.db.catalog import Scenario
from mloop_common.db.paging import Position
from mloop_common.db.triggers import (
    NEW_DATA,
    PERFORMANCE,
    Trigger,
    TriggerFiring,
    TriggerView,
    firings_page,
    last_firings,
    scenario_triggers,
)
from mloop_common.keyring import Grant
from mloop_common.ml.metrics import task_metrics
from mloop_common.problems import Problem, invalid, not_found
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mloop_gateway.context import Gateway
from mloop_gateway.domain.paths import BadPath, clean_data_path
from mloop_gateway.handlers import audit, scenarios

MAX_TRIGGERS = 100  # per scenario


def check_for_scenario(scenario: Scenario, kind: str, config: dict[str, Any]) -> None:
    """What the config's shape cannot tell: the metric must be one of the task's, the path a
    clean data path. 422 naming the field."""
    if kind == PERFORMANCE:
        metrics = task_metrics(scenario.task_type)
        if config["metric"] not in metrics:
            raise invalid(
                ["body", "config", "metric"],
                f"{config['metric']!r} is not a {scenario.task_type} metric; "
                f"one of {', '.join(metrics)}",
                "unknown_metric",
            )
    if kind == NEW_DATA and config.get("path") is not None:
        try:
            clean_data_path(config["path"])
        except BadPath as error:
            raise invalid(["body", "config", "path"], str(error), "bad_path") from None


async def create(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    cooldown_seconds: float | None,
    enabled: bool,
) -> TriggerView:
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        check_for_scenario(scenario, kind, config)
        count = await session.scalar(
            select(func.count()).select_from(Trigger).where(Trigger.scenario_id == scenario_id)
        )
        if (count or 0) >= MAX_TRIGGERS:
            raise Problem(409, "Too many triggers", f"A scenario has at most {MAX_TRIGGERS}.")
        if cooldown_seconds is None:
            cooldown_seconds = gw.settings.trigger_cooldown
        trigger = Trigger(
            id=uuid.uuid4(),
            scenario_id=scenario_id,
            name=name,
            kind=kind,
            config=config,
            cooldown_seconds=cooldown_seconds,
            enabled=enabled,
            created_by=grant.key_id,
        )
        session.add(trigger)
        try:
            await session.flush()
        except IntegrityError as error:
            if "triggers_scenario_id_name_key" not in str(error.orig):
                raise
            raise Problem(
                409, "Name taken", f"The scenario has a trigger named {name!r} already."
            ) from None
        audit.record(
            session,
            grant,
            action="trigger.create",
            resource="trigger",
            resource_id=trigger.id,
            scenario_id=scenario_id,
            detail={
                "name": name,
                "kind": kind,
                "config": config,
                "cooldown_seconds": cooldown_seconds,
                "enabled": enabled,
            },
        )
        await session.commit()
        await session.refresh(trigger)
    return TriggerView(trigger, None)


async def list_triggers(gw: Gateway, grant: Grant, scenario_id: uuid.UUID) -> list[TriggerView]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        return await scenario_triggers(session, scenario_id)


async def get(
    gw: Gateway, grant: Grant, scenario_id: uuid.UUID, trigger_id: uuid.UUID
) -> TriggerView:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        trigger = await session.get(Trigger, trigger_id)
        if trigger is None or trigger.scenario_id != scenario_id:
            raise not_found("trigger", trigger_id)
        last = await last_firings(session, [trigger.id])
    return TriggerView(trigger, last.get(trigger.id))


async def delete(gw: Gateway, grant: Grant, scenario_id: uuid.UUID, trigger_id: uuid.UUID) -> None:
    """Delete the trigger and its firings (what they started goes on)."""
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        trigger = await session.get(Trigger, trigger_id, with_for_update=True)
        if trigger is None or trigger.scenario_id != scenario_id:
            raise not_found("trigger", trigger_id)
        await session.delete(trigger)
        audit.record(
            session,
            grant,
            action="trigger.delete",
            resource="trigger",
            resource_id=trigger_id,
            scenario_id=scenario_id,
            detail={"name": trigger.name, "kind": trigger.kind},
        )
        await session.commit()


async def firings(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    trigger_id: uuid.UUID,
    *,
    limit: int,
    after: Position | None,
) -> list[TriggerFiring]:
    async with gw.db.transaction() as session:
        await scenarios.load(session, grant, scenario_id)
        trigger = await session.get(Trigger, trigger_id)
        if trigger is None or trigger.scenario_id != scenario_id:
            raise not_found("trigger", trigger_id)
        return await firings_page(session, trigger_id, limit=limit, after=after)
