"""`/api/scenarios/{id}/feature-sets`: named, versioned target and feature choices."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.schemas import FeatureSetCreate, FeatureSetPublic, Page
from mloop_gateway.handlers import feature_sets

router = APIRouter(prefix="/api/scenarios/{scenario_id}/feature-sets", tags=["feature sets"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FeatureSetPublic)
async def create_feature_set(
    scenario_id: uuid.UUID, body: FeatureSetCreate, gw: Ctx, caller: Editor
) -> FeatureSetPublic:
    created = await feature_sets.create(gw, caller, scenario_id, **body.model_dump())
    return FeatureSetPublic.model_validate(created)


@router.get("", response_model=Page[FeatureSetPublic])
async def list_feature_sets(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[FeatureSetPublic]:
    found = await feature_sets.listing(gw, caller, scenario_id, name=name)
    return Page(items=[FeatureSetPublic.model_validate(f) for f in found], next_cursor=None)


@router.get("/{feature_set_id}", response_model=FeatureSetPublic)
async def get_feature_set(
    scenario_id: uuid.UUID, feature_set_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> FeatureSetPublic:
    found = await feature_sets.get(gw, caller, scenario_id, feature_set_id)
    return FeatureSetPublic.model_validate(found)
