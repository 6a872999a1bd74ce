"""`/api/algorithms`, `/api/scenarios/{id}/model-configs` and `/api/resource-profiles`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from mloop_common.ml.algorithms import algorithm_schemas

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.schemas import Page
from mloop_gateway.entrypoints.training_schemas import (
    ModelConfigCreate,
    ModelConfigPublic,
    ResourceProfileCreate,
    ResourceProfilePublic,
)
from mloop_gateway.handlers import configs

router = APIRouter(tags=["model configs"])
NameFilter = Annotated[str | None, Query(max_length=128)]


@router.get("/api/algorithms")
async def list_algorithms(caller: Viewer) -> dict[str, Any]:
    """Every task's algorithms and their hyperparameter schemas, with camelCase aliases."""
    return {"tasks": algorithm_schemas()}


@router.post(
    "/api/scenarios/{scenario_id}/model-configs",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelConfigPublic,
)
async def create_model_config(
    scenario_id: uuid.UUID, body: ModelConfigCreate, gw: Ctx, caller: Editor
) -> ModelConfigPublic:
    created = await configs.create_model_config(gw, caller, scenario_id, **body.model_dump())
    return ModelConfigPublic.model_validate(created)


@router.get("/api/scenarios/{scenario_id}/model-configs", response_model=Page[ModelConfigPublic])
async def list_model_configs(
    scenario_id: uuid.UUID, gw: Ctx, caller: Viewer, name: NameFilter = None
) -> Page[ModelConfigPublic]:
    found = await configs.list_model_configs(gw, caller, scenario_id, name=name)
    return Page(items=[ModelConfigPublic.model_validate(c) for c in found], next_cursor=None)


@router.get(
    "/api/scenarios/{scenario_id}/model-configs/{config_id}", response_model=ModelConfigPublic
)
async def get_model_config(
    scenario_id: uuid.UUID, config_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> ModelConfigPublic:
    found = await configs.get_model_config(gw, caller, scenario_id, config_id)
    return ModelConfigPublic.model_validate(found)


@router.post(
    "/api/resource-profiles",
    status_code=status.HTTP_201_CREATED,
    response_model=ResourceProfilePublic,
    tags=["resource profiles"],
)
async def create_resource_profile(
    body: ResourceProfileCreate, gw: Ctx, caller: Editor
) -> ResourceProfilePublic:
    limits = body.model_dump(exclude={"name"})
    created = await configs.create_resource_profile(gw, caller, name=body.name, limits=limits)
    return ResourceProfilePublic.model_validate(created)


@router.get(
    "/api/resource-profiles",
    response_model=Page[ResourceProfilePublic],
    tags=["resource profiles"],
)
async def list_resource_profiles(
    gw: Ctx, caller: Viewer, name: NameFilter = None
) -> Page[ResourceProfilePublic]:
    found = await configs.list_resource_profiles(gw, name=name)
    return Page(items=[ResourceProfilePublic.model_validate(p) for p in found], next_cursor=None)


@router.get(
    "/api/resource-profiles/{profile_id}",
    response_model=ResourceProfilePublic,
    tags=["resource profiles"],
)
async def get_resource_profile(
    profile_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> ResourceProfilePublic:
    return ResourceProfilePublic.model_validate(await configs.get_resource_profile(gw, profile_id))
