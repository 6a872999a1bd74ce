"""`/api/scenarios/{id}/triggers`: what retrains a scenario's champion by itself, and each
firing with its reason and outcome. Editors create, change (PUT, also to switch one off) and
delete them; viewers read them."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from mloop_common.db.triggers import KINDS, OUTCOMES, TriggerFiring, TriggerView
from mloop_common.problems import invalid
from pydantic import BaseModel, Field

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.schemas import Name, Page, Public, Strict
from mloop_gateway.handlers import triggers

router = APIRouter(prefix="/api/scenarios/{scenario_id}/triggers", tags=["triggers"])

Kind = Literal[KINDS]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
MAX_COOLDOWN = 366 * 86400.0
CONFIGS = (
    "Per kind. schedule: {cron: 5 fields, or 6 with the second first; timezone: IANA name, "
    "default UTC}. drift: {features: [names]: fire when any drifted (each an input column of "
    "the champion, a feature of a feature set's latest version, or a column of the default "
    "data other than the target); min_share: 0..1: fire when at least this share of features "
    "drifted; one or both}. performance: {metric: one of "
    "the task's metrics; comparison: lt|le|gt|ge; threshold: number; min_feedback: labelled "
    "predictions needed, default 20}. new_data: {path: data path whose new versions fire; "
    "default the scenario's default data path}."
)


class TriggerCreate(Strict):
    name: Name
    kind: Kind = Field(description="schedule, drift, performance or new_data.")
    config: dict[str, Any] = Field(default_factory=dict, description=CONFIGS)
    cooldown_seconds: float | None = Field(
        None,
        ge=0,
        le=MAX_COOLDOWN,
        description="Seconds after a firing that started a retrain before another may "
        "(MLOOP_TRIGGER_COOLDOWN when unset).",
    )
    enabled: bool = True


class TriggerUpdate(Strict):
    """The fields to change; those left out keep their value."""

    name: Name | None = None
    kind: Kind | None = Field(  # type: ignore[valid-type]
        None, description="The trigger's kind, which cannot change (accepted when the same)."
    )
    config: dict[str, Any] | None = Field(
        None, description="The whole new config, checked as at creation. " + CONFIGS
    )
    cooldown_seconds: float | None = Field(
        None,
        ge=0,
        le=MAX_COOLDOWN,
        description="Seconds after a firing that started a retrain before another may; null: "
        "MLOOP_TRIGGER_COOLDOWN.",
    )
    enabled: bool | None = Field(
        None, description="False: the trigger never fires until switched back on."
    )


class FiringPublic(Public):
    id: uuid.UUID
    trigger_id: uuid.UUID
    scenario_id: uuid.UUID
    at: datetime
    kind: str
    reason: str = Field(description="What fired it, for people.")
    outcome: Outcome = Field(  # type: ignore[valid-type]
        description="started: a retrain was started; cooldown, capped, duplicate, failed, "
        "skipped: nothing was (`detail.note` says why; skipped: a dataset version a workflow "
        "made, which triggers do not retrain on)."
    )
    dedup_key: str = Field(description="The cause (event id, schedule slot, feedback).")
    run_id: uuid.UUID | None
    workflow_run_id: uuid.UUID | None
    detail: dict[str, Any]


class TriggerPublic(BaseModel):
    id: uuid.UUID
    scenario_id: uuid.UUID
    name: str
    kind: str
    config: dict[str, Any]
    cooldown_seconds: float
    enabled: bool
    created_by: uuid.UUID | None
    created_at: datetime
    last_fired_at: datetime | None = Field(
        description="When it last started a retrain (a schedule: that slot)."
    )
    next_fire_at: datetime | None = Field(description="A schedule's next slot, once computed.")
    last_firing: FiringPublic | None


def public(view: TriggerView) -> TriggerPublic:
    row = view.trigger
    return TriggerPublic(
        id=row.id,
        scenario_id=row.scenario_id,
        name=row.name,
        kind=row.kind,
        config=row.config,
        cooldown_seconds=row.cooldown_seconds,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
        last_fired_at=row.last_fired_at,
        next_fire_at=row.next_fire_at,
        last_firing=FiringPublic.model_validate(view.last_firing) if view.last_firing else None,
    )


@router.get("", response_model=Page[TriggerPublic])
async def list_triggers(scenario_id: uuid.UUID, gw: Ctx, caller: Viewer) -> Page[TriggerPublic]:
    """The scenario's triggers by name, each with its latest firing."""
    found = await triggers.list_triggers(gw, caller, scenario_id)
    return Page(items=[public(view) for view in found], next_cursor=None)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TriggerPublic)
async def create_trigger(
    scenario_id: uuid.UUID, body: TriggerCreate, gw: Ctx, caller: Editor
) -> TriggerPublic:
    config = triggers.checked_config(body.kind, body.config)
    created = await triggers.create(
        gw,
        caller,
        scenario_id,
        name=body.name,
        kind=body.kind,
        config=config,
        cooldown_seconds=body.cooldown_seconds,
        enabled=body.enabled,
    )
    return public(created)


@router.get("/{trigger_id}", response_model=TriggerPublic)
async def get_trigger(
    scenario_id: uuid.UUID, trigger_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> TriggerPublic:
    return public(await triggers.get(gw, caller, scenario_id, trigger_id))


@router.put("/{trigger_id}", response_model=TriggerPublic)
async def update_trigger(
    scenario_id: uuid.UUID, trigger_id: uuid.UUID, body: TriggerUpdate, gw: Ctx, caller: Editor
) -> TriggerPublic:
    """Change the trigger's name, config, cooldown or `enabled` (a disabled trigger never
    fires); the fields left out keep their value. Its firings are kept."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "kind", "config", "enabled"):
        if required in changes and changes[required] is None:
            raise invalid(["body", required], f"{required} cannot be null", "null")
    return public(await triggers.update(gw, caller, scenario_id, trigger_id, changes))


@router.delete("/{trigger_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_trigger(
    scenario_id: uuid.UUID, trigger_id: uuid.UUID, gw: Ctx, caller: Editor
) -> Response:
    """Delete the trigger and its firings; retrains it started go on."""
    await triggers.delete(gw, caller, scenario_id, trigger_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{trigger_id}/firings", response_model=Page[FiringPublic])
async def list_firings(
    scenario_id: uuid.UUID,
    trigger_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
) -> Page[FiringPublic]:
    """The trigger's firings, newest first."""
    found = await triggers.firings(gw, caller, scenario_id, trigger_id, limit=limit, after=after)

    def position(firing: TriggerFiring) -> SimpleNamespace:
        return SimpleNamespace(created_at=firing.at, id=firing.id)

    return page_of(found, limit, FiringPublic.model_validate, row=position)
