"""Retraining triggers: the gateway writes their definitions; the scheduler fires them and
records the firings, which the gateway shows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from mloop_common.db import serving_reads
from mloop_common.db.catalog import FeatureSet, Scenario
from mloop_common.db.catalog_reads import latest_dataset
from mloop_common.db.paging import Position
from mloop_common.db.triggers import (
    DRIFT,
    NEW_DATA,
    PERFORMANCE,
    SCHEDULE,
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
from mloop_common.triggers import SPEC, next_slot
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mloop_gateway.context import Gateway
from mloop_gateway.domain.paths import BadPath, clean_data_path
from mloop_gateway.handlers import audit, scenarios

MAX_TRIGGERS = 100  # per scenario
MAX_SHOWN = 20  # known feature names listed in a refusal


def checked_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config as the kind's model reads it (defaults filled in); 422 naming each field."""
    try:
        spec = SPEC.validate_python({"kind": kind, "config": config})
    except ValidationError as error:
        errors = [
            {
                # The union's tag (the kind) is not part of the request's shape.
                "loc": ["body", *[str(part) for part in e["loc"][e["loc"][:1] == (kind,) :]]],
                "msg": e["msg"].removeprefix("Value error, "),
                "type": e["type"],
            }
            for e in error.errors(include_url=False)
        ]
        raise Problem(
            422, "Invalid trigger", "; ".join(e["msg"] for e in errors), errors=errors
        ) from None
    return spec.config.model_dump(mode="json", exclude_none=True)


async def check_for_scenario(
    session: AsyncSession, scenario: Scenario, kind: str, config: dict[str, Any]
) -> None:
    """What the config's shape cannot tell: the metric must be one of the task's, the path a
    clean data path, the drift features the scenario's. 422 naming the field."""
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
    if kind == DRIFT and config.get("features"):
        await _check_features(session, scenario, list(config["features"]))


async def known_features(session: AsyncSession, scenario: Scenario) -> set[str]:
    """The names a drift trigger may watch: the input columns of the scenario's models as they
    are and as they may be retrained — the champion's signature, the features of the latest
    version of each feature set, and the columns of the latest data at the scenario's default
    path except its target. (Drift is measured on a model's input columns, so these are the
    names a DriftDetected event can carry.)"""
    names: set[str] = set()
    state = await serving_reads.deployment(session, scenario.id)
    if state is not None and state.champion_model_id is not None:
        champion = await serving_reads.scenario_model(session, scenario.id, state.champion_model_id)
        if champion is not None:
            names |= {
                str(column["name"])
                for column in (champion.signature or {}).get("columns") or []
                if isinstance(column, dict) and "name" in column
            }
    feature_sets = await session.scalars(
        select(FeatureSet)
        .where(FeatureSet.scenario_id == scenario.id)
        .distinct(FeatureSet.name)
        .order_by(FeatureSet.name, FeatureSet.version.desc())
    )
    for feature_set in feature_sets:
        names |= {str(name) for name in feature_set.features or []}
    if scenario.default_data_path is not None:
        latest = await latest_dataset(session, scenario.id, scenario.default_data_path)
        if latest is not None:
            names |= {
                str(column["name"])
                for column in latest.columns or []
                if column.get("name") != scenario.default_target
            }
    return names


async def _check_features(session: AsyncSession, scenario: Scenario, features: list[str]) -> None:
    known = await known_features(session, scenario)
    if not known:
        raise invalid(
            ["body", "config", "features"],
            "the scenario has no data, feature set or champion yet, so it has no feature to "
            "name: upload data first, or watch `min_share` instead",
            "unknown_feature",
        )
    unknown = [(index, name) for index, name in enumerate(features) if name not in known]
    if not unknown:
        return
    listed = sorted(known)
    shown = ", ".join(listed[:MAX_SHOWN]) + (" ..." if len(listed) > MAX_SHOWN else "")
    errors = [
        {
            "loc": ["body", "config", "features", str(index)],
            "msg": f"{name!r} is not a feature of the scenario (known: {shown})",
            "type": "unknown_feature",
        }
        for index, name in unknown
    ]
    raise Problem(
        422,
        "Invalid trigger",
        "; ".join(error["msg"] for error in errors),
        errors=errors,
    )


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
        await check_for_scenario(session, scenario, kind, config)
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
        await _flush_named(session, name)
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


async def update(
    gw: Gateway,
    grant: Grant,
    scenario_id: uuid.UUID,
    trigger_id: uuid.UUID,
    changes: dict[str, Any],
) -> TriggerView:
    """Change a trigger's definition: any of `name`, `config` (whole, checked as at creation),
    `cooldown_seconds` (None: the default) and `enabled`. The kind stays: a trigger of another
    kind is another trigger. A schedule whose cron or time zone changed, or that is switched
    back on, next fires at its first slot after the edit (never at one that passed)."""
    async with gw.db.transaction() as session:
        scenario = await scenarios.load(session, grant, scenario_id)
        trigger = await session.get(Trigger, trigger_id, with_for_update=True)
        if trigger is None or trigger.scenario_id != scenario_id:
            raise not_found("trigger", trigger_id)
        kind = changes.pop("kind", trigger.kind)
        if kind != trigger.kind:
            raise invalid(
                ["body", "kind"],
                f"a trigger's kind cannot change (it is {trigger.kind}); create another trigger",
                "immutable",
            )
        if "config" in changes:
            changes["config"] = checked_config(kind, changes["config"])
            await check_for_scenario(session, scenario, kind, changes["config"])
        if "cooldown_seconds" in changes and changes["cooldown_seconds"] is None:
            changes["cooldown_seconds"] = gw.settings.trigger_cooldown
        changed = {
            name: value for name, value in changes.items() if getattr(trigger, name) != value
        }
        if kind == SCHEDULE and (
            "config" in changed or (changed.get("enabled") is True and not trigger.enabled)
        ):
            config = changed.get("config", trigger.config)
            trigger.next_fire_at = next_slot(
                config["cron"], config.get("timezone", "UTC"), datetime.now(UTC)
            )
        for name, value in changed.items():
            setattr(trigger, name, value)
        await _flush_named(session, trigger.name)
        if changed:
            audit.record(
                session,
                grant,
                action="trigger.update",
                resource="trigger",
                resource_id=trigger.id,
                scenario_id=scenario_id,
                detail={"name": trigger.name, "kind": kind, "changes": changed},
            )
        await session.commit()
        await session.refresh(trigger)
        last = await last_firings(session, [trigger.id])
    return TriggerView(trigger, last.get(trigger.id))


async def _flush_named(session: AsyncSession, name: str) -> None:
    """Flush the trigger; 409 when the scenario has another trigger of that name."""
    try:
        await session.flush()
    except IntegrityError as error:
        if "triggers_scenario_id_name_key" not in str(error.orig):
            raise
        raise Problem(
            409, "Name taken", f"The scenario has a trigger named {name!r} already."
        ) from None


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
