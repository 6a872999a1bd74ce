"""`/api/scenarios/{id}/models`: trained model versions, the best one, artifacts, cleanup."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from mloop_gateway.entrypoints.deps import Ctx, Editor, Viewer
from mloop_gateway.entrypoints.paging import After, Limit, page_of
from mloop_gateway.entrypoints.schemas import Page
from mloop_gateway.entrypoints.training_schemas import (
    Cleanup,
    CleanupResult,
    ModelMetrics,
    ModelPublic,
)
from mloop_gateway.handlers import models

router = APIRouter(prefix="/api/scenarios/{scenario_id}/models", tags=["models"])


@router.get("", response_model=Page[ModelPublic])
async def list_models(
    scenario_id: uuid.UUID,
    gw: Ctx,
    caller: Viewer,
    after: After,
    limit: Limit = 50,
    experiment_id: uuid.UUID | None = None,
) -> Page[ModelPublic]:
    found = await models.page(
        gw, caller, scenario_id, limit=limit, after=after, experiment_id=experiment_id
    )
    return page_of(found, limit, ModelPublic.of)


@router.get("/best-model", response_model=ModelPublic)
async def best_model(scenario_id: uuid.UUID, gw: Ctx, caller: Viewer) -> ModelPublic:
    """The model with the best value of the scenario's primary metric."""
    return ModelPublic.of(await models.best(gw, caller, scenario_id))


@router.post("/cleanup", status_code=status.HTTP_202_ACCEPTED, response_model=CleanupResult)
async def cleanup_models(
    scenario_id: uuid.UUID, body: Cleanup, gw: Ctx, caller: Editor
) -> CleanupResult:
    """Keep the N best models; the trainer deletes the others with their artifacts."""
    kept, deleted = await models.cleanup(gw, caller, scenario_id, keep=body.keep)
    return CleanupResult(kept=kept, deleted=deleted)


@router.get("/{model_id}", response_model=ModelPublic)
async def get_model(
    scenario_id: uuid.UUID, model_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> ModelPublic:
    return ModelPublic.of(await models.get(gw, caller, scenario_id, model_id))


@router.get("/{model_id}/metrics", response_model=ModelMetrics)
async def model_metrics(
    scenario_id: uuid.UUID, model_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> ModelMetrics:
    model = await models.get(gw, caller, scenario_id, model_id)
    return ModelMetrics(
        model_id=model.id,
        primary_metric=model.primary_metric,
        metrics=model.metrics,
        details=model.details,
        feature_importances=model.feature_importances,
    )


@router.get(
    "/{model_id}/artifact",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_model(
    scenario_id: uuid.UUID, model_id: uuid.UUID, gw: Ctx, caller: Viewer
) -> StreamingResponse:
    """The model's joblib file (a scikit-learn Pipeline); its sha256 is in X-Content-SHA256."""
    model, chunks = await models.artifact(gw, caller, scenario_id, model_id)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(model.size),
            "Content-Disposition": f'attachment; filename="model-{model.id}.joblib"',
            "X-Content-SHA256": model.sha256,
        },
    )
