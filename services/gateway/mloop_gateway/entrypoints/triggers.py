"""`/api/scenarios/{id}/triggers`: what retrains a scenario's champion by itself, and each
firing with its reason and outcome. Editors change them, viewers read them."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from mloop_common.db.triggers import KINDS, OUTCOMES, TriggerFiring, TriggerView
from mloop_common.problems import Problem
from mloop_common.triggers import SPEC
from pydantic import BaseModel, Field, ValidationError

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
    "default UTC}. drift: {features: [names]: fire when any drifted; min_share: 0..1: fire "
    "when at least this share of features drifted; one or both}. performance: {metric: one of "
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


class FiringPublic(Public):
    id: uuid.UUID
    trigger_id: uuid.UUID
    scenario_id: uuid.UUID
    at: datetime
    kind: str
    reason: str = Field(description="What fired it, for people.")
    outcome: Outcome = Field(  # type: ignore[valid-type]
        description="started: a retrain was started; cooldown, capped, duplicate, failed: "
        "nothing was (`detail.note` says why)."
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


@router.get("", response_model=Page[TriggerPublic])
async def list_triggers(scenario_id: uuid.UUID, gw: Ctx, caller: Viewer) -> Page[TriggerPublic]:
    """The scenario's triggers by name, each with its latest firing."""
    found = await triggers.list_triggers(gw, caller, scenario_id)
    return Page(items=[public(view) for view in found], next_cursor=None)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TriggerPublic)
async def create_trigger(
    scenario_id: uuid.UUID, body: TriggerCreate, gw: Ctx, caller: Editor
) -> TriggerPublic:
    config = checked_config(body.kind, body.config)
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
