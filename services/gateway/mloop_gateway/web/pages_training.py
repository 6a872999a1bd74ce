"""Dashboard pages of training and serving: model configs and resource profiles, experiments,
runs, the comparison of runs, and the model registry with its deployments.

The routes only render page shells; each page's script reads and changes things through the
JSON API (`/api/...`), so the pages hold no logic of their own and cost no database round trip.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop_gateway.web.render import page
from mloop_gateway.web.session import PageUser

router = APIRouter(include_in_schema=False)
MAX_COMPARED = 20


def compared_runs(raw: str | None) -> tuple[list[str], bool]:
    """The distinct run ids of `?runs=a,b,...` in order, and whether the list was usable
    (one to MAX_COMPARED UUIDs)."""
    ids: list[str] = []
    if raw and len(raw) > MAX_COMPARED * 40:
        return [], False
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            run_id = str(uuid.UUID(part))
        except ValueError:
            return [], False
        if run_id not in ids:
            ids.append(run_id)
    return ids, 1 <= len(ids) <= MAX_COMPARED


@router.get("/scenarios/{scenario_id}/configs", response_class=HTMLResponse)
async def configs_page(request: Request, scenario_id: uuid.UUID, user: PageUser) -> HTMLResponse:
    return page(request, "configs.html", user, title_key="configs.title", scenario_id=scenario_id)


@router.get("/scenarios/{scenario_id}/experiments", response_class=HTMLResponse)
async def experiments_page(
    request: Request, scenario_id: uuid.UUID, user: PageUser
) -> HTMLResponse:
    return page(
        request, "experiments.html", user, title_key="experiments.title", scenario_id=scenario_id
    )


@router.get("/scenarios/{scenario_id}/experiments/{experiment_id}", response_class=HTMLResponse)
async def experiment_page(
    request: Request, scenario_id: uuid.UUID, experiment_id: uuid.UUID, user: PageUser
) -> HTMLResponse:
    return page(
        request,
        "experiment.html",
        user,
        title_key="experiments.experiment_title",
        scenario_id=scenario_id,
        experiment_id=experiment_id,
    )


@router.get("/scenarios/{scenario_id}/runs/{run_id}", response_class=HTMLResponse)
async def run_page(
    request: Request, scenario_id: uuid.UUID, run_id: uuid.UUID, user: PageUser
) -> HTMLResponse:
    return page(
        request, "run.html", user, title_key="runs.title", scenario_id=scenario_id, run_id=run_id
    )


@router.get("/scenarios/{scenario_id}/compare", response_class=HTMLResponse)
async def compare_page(
    request: Request,
    scenario_id: uuid.UUID,
    user: PageUser,
    runs: Annotated[str | None, Query(description="Comma-separated run ids.")] = None,
) -> HTMLResponse:
    ids, usable = compared_runs(runs)
    return page(
        request,
        "compare.html",
        user,
        title_key="compare.title",
        scenario_id=scenario_id,
        run_ids=ids,
        runs_usable=usable,
        max_compared=MAX_COMPARED,
    )


@router.get("/scenarios/{scenario_id}/models", response_class=HTMLResponse)
async def models_page(request: Request, scenario_id: uuid.UUID, user: PageUser) -> HTMLResponse:
    return page(request, "models.html", user, title_key="models.title", scenario_id=scenario_id)
