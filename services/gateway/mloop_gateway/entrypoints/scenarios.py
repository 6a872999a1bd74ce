"""`/api/scenarios`: create, list, read, change and delete scenarios."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from mloop_common.problems import invalid

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.schemas import Page, ScenarioCreate, ScenarioPublic, ScenarioUpdate
from mloop_gateway.handlers import data, scenarios

router = APIRouter(prefix="/api/scenarios", tags=["scenarios"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScenarioPublic)
async def create_scenario(body: ScenarioCreate, gw: Ctx, caller: Editor) -> ScenarioPublic:
    fields = body.model_dump(exclude={"monitoring"})
    scenario = await scenarios.create(
        gw, caller, fields | {"monitoring": body.monitoring.model_dump(exclude_none=True)}
    )
    return ScenarioPublic.model_validate(scenario)


@router.get("", response_model=Page[ScenarioPublic])
async def list_scenarios(
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
    tag: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 (FastAPI copies it)
) -> Page[ScenarioPublic]:
    found = await scenarios.page(gw, caller, limit=limit, after=after, tags=tag)
    return page_of(found, limit, ScenarioPublic.model_validate)


@router.get("/{scenario_id}", response_model=ScenarioPublic)
async def get_scenario(scenario_id: uuid.UUID, gw: Ctx, caller: Viewer) -> ScenarioPublic:
    return ScenarioPublic.model_validate(await scenarios.get(gw, caller, scenario_id))


@router.put("/{scenario_id}", response_model=ScenarioPublic)
async def update_scenario(
    scenario_id: uuid.UUID, body: ScenarioUpdate, gw: Ctx, caller: Editor
) -> ScenarioPublic:
    changes = body.model_dump(exclude_unset=True)
    if body.monitoring is not None:
        changes["monitoring"] = body.monitoring.model_dump(exclude_none=True)
    if changes.get("default_data_path") is not None:
        data.data_path(changes["default_data_path"], ["body", "default_data_path"])
    for required in ("name", "description", "tags", "deployment_policy", "monitoring"):
        if required in changes and changes[required] is None:
            raise invalid(["body", required], f"{required} cannot be null", "null")
    scenario = await scenarios.update(gw, caller, scenario_id, changes)
    return ScenarioPublic.model_validate(scenario)


@router.delete("/{scenario_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_scenario(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Editor,
    force: Annotated[
        bool, Query(description="Delete even while a training run is active (runs: issue 4).")
    ] = False,
) -> None:
    """Delete the scenario with its data, feature sets and stored files (`ScenarioDeleted`)."""
    await scenarios.remove(gw, caller, scenario_id, force=force)
